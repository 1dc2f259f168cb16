// Stacked LSTM that advances exactly one step per frame and keeps (h, c) between calls — the streaming form of a
// sequence model. Gate order i, f, g, o as PyTorch's nn.LSTM, so its state_dict loads unchanged.
import Foundation

public final class StackedLSTM {
    public let inputSize: Int
    public let hidden: Int
    public let layerCount: Int

    struct Layer {
        let inputSize: Int
        /// [W_ih | W_hh] side by side: [4H × (in + H)]. One sgemv over z = [x ; h] computes all four gates of the
        /// layer at once (the fused matmul), instead of eight small ones.
        let weight: FloatBuffer
        /// The same in half precision (bit patterns) for a float16 model: half the bytes to stream each step, so
        /// both layers' weights stay in a core's L2 (fp32 they do not); `weight` then holds the same values widened.
        let halfWeight: HalfBuffer?
        /// b_ih + b_hh, added once.
        let bias: FloatBuffer
        /// z = [x ; h_{t−1}]: the layer's input followed by its own previous hidden state.
        let z: FloatBuffer
        let gates: FloatBuffer
        let c: FloatBuffer
    }

    let layers: [Layer]

    /// `halfWeights`: step() multiplies by the weights held in half precision (they must be halves already: a
    /// float16 model's, else they are rounded).
    public init(inputSize: Int, hidden: Int, layers layerCount: Int, parameters: [String: NamedTensor],
                halfWeights: Bool = false) {
        self.inputSize = inputSize; self.hidden = hidden; self.layerCount = layerCount
        var layers: [Layer] = []
        var inSize = inputSize
        for l in 0..<layerCount {
            let wih = parameters["lstm.weight_ih_l\(l)"]!.values, whh = parameters["lstm.weight_hh_l\(l)"]!.values
            let bih = parameters["lstm.bias_ih_l\(l)"]!.values, bhh = parameters["lstm.bias_hh_l\(l)"]!.values
            let cols = inSize + hidden
            var fused = [Float](repeating: 0, count: 4 * hidden * cols)
            for r in 0..<(4 * hidden) {
                for j in 0..<inSize { fused[r * cols + j] = wih[r * inSize + j] }
                for j in 0..<hidden { fused[r * cols + inSize + j] = whh[r * hidden + j] }
            }
            layers.append(Layer(inputSize: inSize, weight: FloatBuffer(fused), halfWeight: halfWeights ? HalfBuffer(fused) : nil,
                                bias: FloatBuffer(zip(bih, bhh).map { $0 + $1 }),
                                z: FloatBuffer(count: cols), gates: FloatBuffer(count: 4 * hidden),
                                c: FloatBuffer(count: hidden)))
            inSize = hidden
        }
        self.layers = layers
    }

    /// The same weights (shared, read-only), its own state: a second stream of the same model on another thread.
    public init(sharingWeightsOf other: StackedLSTM) {
        inputSize = other.inputSize; hidden = other.hidden; layerCount = other.layerCount
        layers = other.layers.map { l in
            Layer(inputSize: l.inputSize, weight: l.weight, halfWeight: l.halfWeight, bias: l.bias, z: FloatBuffer(count: l.z.count),
                  gates: FloatBuffer(count: l.gates.count), c: FloatBuffer(count: l.c.count))
        }
    }

    /// The fused weight of the first layer (tests check that replicas share it).
    public var firstWeight: UnsafeMutablePointer<Float> { layers[0].weight.pointer }

    /// Where the caller writes the next step's input (the encoder writes its features straight here: no copy).
    public var input: UnsafeMutablePointer<Float> { layers[0].z.pointer }

    /// Hidden state h of `layer` (valid after a step; the top layer's feeds the head).
    public func h(layer: Int) -> UnsafeMutablePointer<Float> { layers[layer].z.pointer + layers[layer].inputSize }
    public func c(layer: Int) -> UnsafeMutablePointer<Float> { layers[layer].c.pointer }

    /// One time step on the input already written to `input`. Allocates nothing.
    public func step() {
        for l in 0..<layerCount {
            let layer = layers[l]
            let cols = layer.inputSize + hidden
            layer.gates.pointer.update(from: layer.bias.pointer, count: 4 * hidden)
            if let half = layer.halfWeight {
                Kernels.gemvHalf(rows: 4 * hidden, cols: cols, a: half.pointer, x: layer.z.pointer, y: layer.gates.pointer)
            } else {
                Kernels.gemv(rows: 4 * hidden, cols: cols, a: layer.weight.pointer, lda: cols,
                             x: layer.z.pointer, beta: 1, y: layer.gates.pointer)
            }
            // h is written back into this layer's z (it is next step's h_{t−1}) and copied into the next layer's x.
            let h = layer.z.pointer + layer.inputSize
            Kernels.lstmPointwise(gates: layer.gates.pointer, hidden: hidden, c: layer.c.pointer, h: h)
            if l + 1 < layerCount { layers[l + 1].z.pointer.update(from: h, count: hidden) }
        }
    }

    /// Zero state, as at the start of a stream.
    public func reset() {
        for layer in layers {
            (layer.z.pointer + layer.inputSize).update(repeating: 0, count: hidden)
            layer.c.zero()
        }
    }

    /// Batch form over T inputs [T × inputSize] from zero state: each layer's input projections for all T steps are
    /// one sgemm, then only the recurrent part runs step by step. Returns the top layer's h for every step
    /// [T × H]. Allocates (offline/verification path).
    public func runBatch(inputs: [Float], steps: Int) -> [Float] {
        precondition(inputs.count == steps * inputSize)
        var x = inputs
        for layer in layers {
            let inSize = layer.inputSize, cols = inSize + hidden, g4 = 4 * hidden
            var gates = [Float](repeating: 0, count: steps * g4)
            for t in 0..<steps {
                for j in 0..<g4 { gates[t * g4 + j] = layer.bias.pointer[j] }
            }
            // G[T × 4H] = X[T × in] · W_ih^T, W_ih being the left block of the fused weight (row stride cols).
            x.withUnsafeBufferPointer { xp in
                gates.withUnsafeMutableBufferPointer { gp in
                    Kernels.gemm(m: steps, n: g4, k: inSize, a: xp.baseAddress!, lda: inSize,
                                 b: layer.weight.pointer, ldb: cols, transposeB: true,
                                 beta: 1, c: gp.baseAddress!, ldc: g4)
                }
            }
            var out = [Float](repeating: 0, count: steps * hidden)
            var h = [Float](repeating: 0, count: hidden), c = [Float](repeating: 0, count: hidden)
            gates.withUnsafeMutableBufferPointer { gp in
                for t in 0..<steps {
                    let g = gp.baseAddress! + t * g4
                    h.withUnsafeBufferPointer { hp in
                        Kernels.gemv(rows: g4, cols: hidden, a: layer.weight.pointer + inSize, lda: cols,
                                     x: hp.baseAddress!, beta: 1, y: g)
                    }
                    h.withUnsafeMutableBufferPointer { hp in
                        c.withUnsafeMutableBufferPointer { cp in
                            Kernels.lstmPointwise(gates: g, hidden: hidden, c: cp.baseAddress!, h: hp.baseAddress!)
                        }
                    }
                    out.replaceSubrange((t * hidden)..<((t + 1) * hidden), with: h)
                }
            }
            x = out
        }
        return x
    }
}

/// Fully connected head: Linear + ReLU for each hidden width, then Linear(→outputCount) and a sigmoid.
public final class DenseHead {
    public let inputSize: Int
    /// Sigmoid outputs: the envelope, then the onset strength when the model has it.
    public let outputCount: Int
    /// The onset strength of the last `forward` (0 without an onset output).
    public private(set) var lastOnset: Float = 0

    struct Layer {
        let inSize, outSize: Int
        let weight: FloatBuffer   // [out × in]
        let bias: FloatBuffer
        let output: FloatBuffer
    }

    let layers: [Layer]

    public init(inputSize: Int, hidden: [Int], outputCount: Int = 1, parameters: [String: NamedTensor]) {
        self.inputSize = inputSize
        self.outputCount = outputCount
        var layers: [Layer] = []
        var fin = inputSize
        for (i, width) in (hidden + [outputCount]).enumerated() {
            layers.append(Layer(inSize: fin, outSize: width,
                                weight: FloatBuffer(parameters["head.fc\(i).weight"]!.values),
                                bias: FloatBuffer(parameters["head.fc\(i).bias"]!.values),
                                output: FloatBuffer(count: width)))
            fin = width
        }
        self.layers = layers
    }

    /// The same weights (shared, read-only), its own outputs.
    public init(sharingWeightsOf other: DenseHead) {
        inputSize = other.inputSize
        outputCount = other.outputCount
        layers = other.layers.map { l in
            Layer(inSize: l.inSize, outSize: l.outSize, weight: l.weight, bias: l.bias, output: FloatBuffer(count: l.output.count))
        }
    }

    /// Envelope in [0, 1] for one hidden vector (the onset strength goes to `lastOnset`). Allocates nothing.
    public func forward(_ x: UnsafePointer<Float>) -> Float {
        var input = x
        let last = layers.count - 1
        for (i, layer) in layers.enumerated() {
            layer.output.pointer.update(from: layer.bias.pointer, count: layer.outSize)
            Kernels.gemv(rows: layer.outSize, cols: layer.inSize, a: layer.weight.pointer, lda: layer.inSize,
                         x: input, beta: 1, y: layer.output.pointer)
            if i < last {
                for j in 0..<layer.outSize { layer.output.pointer[j] = max(layer.output.pointer[j], 0) }
            }
            input = UnsafePointer(layer.output.pointer)
        }
        if outputCount == 2 { lastOnset = Kernels.sigmoid(input[1]) }
        return Kernels.sigmoid(input[0])
    }

    /// Batch form: rows [T × inputSize] → T × outputCount sigmoid outputs (row-major), one sgemm per layer. Allocates.
    public func forwardBatch(_ rows: [Float], count: Int) -> [Float] {
        var x = rows
        let last = layers.count - 1
        for (i, layer) in layers.enumerated() {
            var y = [Float](repeating: 0, count: count * layer.outSize)
            for t in 0..<count { for j in 0..<layer.outSize { y[t * layer.outSize + j] = layer.bias.pointer[j] } }
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    Kernels.gemm(m: count, n: layer.outSize, k: layer.inSize, a: xp.baseAddress!, lda: layer.inSize,
                                 b: layer.weight.pointer, ldb: layer.inSize, transposeB: true,
                                 beta: 1, c: yp.baseAddress!, ldc: layer.outSize)
                }
            }
            if i < last { for j in y.indices { y[j] = max(y[j], 0) } }
            x = y
        }
        return x.map(Kernels.sigmoid)
    }
}
