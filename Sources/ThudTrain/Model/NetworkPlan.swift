// Where every parameter lives in the trainer's one flat buffer, and the layer sizes the kernels need. One flat buffer
// (in ModelArchitecture.parameterShapes order) makes gradient sums, clipping and Adam single loops, and the file
// order is the export order.
import Foundation
import ThudModel

struct ParameterLayout {
    let names: [String]
    let shapes: [[Int]]
    let offsets: [Int]
    let counts: [Int]
    let total: Int

    init(architecture: ModelArchitecture) {
        var names: [String] = [], shapes: [[Int]] = [], offsets: [Int] = [], counts: [Int] = []
        var offset = 0
        for (name, shape) in architecture.parameterShapes {
            let count = shape.reduce(1, *)
            names.append(name); shapes.append(shape); offsets.append(offset); counts.append(count)
            // Each tensor starts on a 16-float (64-byte) boundary so OpenBLAS reads aligned rows.
            offset += (count + 15) / 16 * 16
        }
        self.names = names; self.shapes = shapes; self.offsets = offsets; self.counts = counts; total = offset
    }

    func offset(of name: String) -> Int {
        guard let i = names.firstIndex(of: name) else { preconditionFailure("no parameter \(name)") }
        return offsets[i]
    }
}

/// Layer sizes and parameter offsets, resolved once from the architecture.
struct NetworkPlan {
    struct Conv { let shape: ConvLayerShape; let weight: Int; let bias: Int }
    struct LSTMLayer { let inSize: Int; let weightIH: Int; let weightHH: Int; let biasIH: Int; let biasHH: Int }
    struct Dense { let inSize: Int; let outSize: Int; let weight: Int; let bias: Int }

    let architecture: ModelArchitecture
    let layout: ParameterLayout
    let frameWidth: Int
    let frameHeight: Int
    var frameSize: Int { frameWidth * frameHeight }
    let encoderKind: EncoderKind
    /// Planes of the first conv layer's input (ModelArchitecture.encoder.inputPlaneCount).
    var inputPlaneCount: Int { architecture.encoder.inputPlaneCount }
    /// EncoderSpec.readsFrameBeforePrevious.
    var readsFrameBeforePrevious: Bool { architecture.encoder.readsFrameBeforePrevious }
    let conv: [Conv]
    let featureCount: Int
    let hidden: Int
    let lstm: [LSTMLayer]
    /// Hidden layers (ReLU) then the final Linear(→outputCount) whose outputs are the logits.
    let head: [Dense]
    /// Logits per step: the envelope's, then the onset strength's when the architecture has it.
    let outputCount: Int
    /// Largest im2col matrix over the conv layers.
    let maxColumns: Int
    /// Largest even/odd split scratch of im2col/col2im.
    let maxSplitScratch: Int

    init(architecture a: ModelArchitecture) {
        architecture = a
        let layout = ParameterLayout(architecture: a)
        self.layout = layout
        frameWidth = a.input.width; frameHeight = a.input.height
        encoderKind = a.encoder.kind
        var conv: [Conv] = []
        if a.encoder.kind == .conv {
            var cin = a.encoder.inputPlaneCount, h = a.input.height, w = a.input.width
            for (i, cout) in (a.encoder.convChannels ?? []).enumerated() {
                let s = ConvLayerShape(inChannels: cin, outChannels: cout, inHeight: h, inWidth: w)
                conv.append(Conv(shape: s, weight: layout.offset(of: "encoder.conv\(i).weight"),
                                 bias: layout.offset(of: "encoder.conv\(i).bias")))
                cin = cout; h = s.outHeight; w = s.outWidth
            }
        }
        self.conv = conv
        maxColumns = conv.map(\.shape.columnCount).max() ?? 0
        maxSplitScratch = conv.map(\.shape.splitScratchCount).max() ?? 0
        featureCount = a.featureCount
        hidden = a.lstmHidden
        var inSize = a.featureCount
        lstm = (0..<a.lstmLayers).map { l in
            defer { inSize = a.lstmHidden }
            return LSTMLayer(inSize: inSize, weightIH: layout.offset(of: "lstm.weight_ih_l\(l)"),
                             weightHH: layout.offset(of: "lstm.weight_hh_l\(l)"),
                             biasIH: layout.offset(of: "lstm.bias_ih_l\(l)"),
                             biasHH: layout.offset(of: "lstm.bias_hh_l\(l)"))
        }
        var fin = a.lstmHidden
        outputCount = a.outputCount
        head = (a.headHidden + [a.outputCount]).enumerated().map { i, width in
            defer { fin = width }
            return Dense(inSize: fin, outSize: width, weight: layout.offset(of: "head.fc\(i).weight"),
                         bias: layout.offset(of: "head.fc\(i).bias"))
        }
    }
}
