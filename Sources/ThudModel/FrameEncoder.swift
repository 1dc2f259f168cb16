// Per-frame visual encoders. Both see the current frame and the ones before it (causal: never a future frame) and
// write a fixed-length feature vector for the LSTM. Motion is what predicts a hit, hence the frame difference.
import Foundation

public protocol FrameEncoder: AnyObject {
    var inputWidth: Int { get }
    var inputHeight: Int { get }
    /// Length of the feature vector `encode` writes (= the LSTM's input size).
    var featureCount: Int { get }
    /// Encodes one step. `current`, `previous` and `beforePrevious` (the frame before `previous`) are gray8 frames
    /// of inputWidth × inputHeight. A frame the stream does not have yet is replaced by the one after it: on the
    /// first step after a reset `previous` and `beforePrevious` are the current frame, on the second
    /// `beforePrevious` is `previous` (each missing difference is zero). Must not allocate.
    func encode(current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>,
                beforePrevious: UnsafeBufferPointer<UInt8>, into features: UnsafeMutablePointer<Float>)
    /// Another encoder of the same model: the same weights (shared, read-only), its own scratch buffers, so that the
    /// two may run on different threads (`thud watch`: one model state per feed, one copy of the weights).
    func replica() -> FrameEncoder
}

/// Learned encoder: a stack of stride-2 3×3 conv layers (padding 1) + ReLU over two channels,
/// [x/255, (x − previous)/255 × differenceGain], or three with `previousDifferencePlane`
/// (+ (previous − beforePrevious)/255 × differenceGain), flattened channel-major (as PyTorch's `flatten(1)` of NCHW);
/// with per-frame normalisation (InputSpec.perFrame) the same planes standardised by the step's own statistics.
/// On a CPU with AVX2 + FMA each layer is one direct convolution with bias and ReLU fused
/// (Kernels.conv3x3s2ReLUDirect) on channels-last activations kept in zero-padded buffers, each layer writing into
/// the next one's (channel counts stored rounded up to 8, the extra ones zero); otherwise (or with `direct: false`) each layer is
/// im2col + one sgemm with the weight as stored ([Cout, Cin, 3, 3]). Both give the same features to float rounding
/// (DirectConvTests).
public final class ConvEncoder: FrameEncoder {
    public let inputWidth: Int
    public let inputHeight: Int
    public let featureCount: Int

    struct Layer {
        let inChannels, outChannels, inHeight, inWidth, outHeight, outWidth: Int
        let weight: FloatBuffer   // [Cout × Cin·9]
        let bias: FloatBuffer     // [Cout]
        let output: FloatBuffer   // [Cout × outH·outW]
    }

    let layers: [Layer]
    /// Input planes [2 or 3 × H × W]: normalised frame, difference, and the previous difference if the model has it.
    let inputPlanes: FloatBuffer
    let hasPreviousDifference: Bool
    /// Scales the difference plane (EncoderSpec.differenceGain).
    let differenceGain: Float
    /// Planes standardised per frame (InputSpec.perFrame) instead of x/255.
    let perFrame: Bool
    /// Shared im2col scratch, sized for the largest layer, and the split rows im2col builds it from.
    let columns: FloatBuffer
    let splitRows: FloatBuffer

    /// The direct path (weights packed at init), nil on the im2col path.
    let direct: DirectConvStack?
    /// Whether encode runs the direct convolutions (CKernels) rather than im2col + sgemm.
    public var usesDirectKernels: Bool { direct != nil }

    /// `direct` picks the direct convolutions where the CPU has AVX2 + FMA (the default); false keeps im2col + sgemm
    /// (tests compare the two).
    public init(architecture a: ModelArchitecture, parameters: [String: NamedTensor],
                direct wantsDirect: Bool = Kernels.hasAVX2FMA) {
        precondition(a.encoder.kind == .conv)
        inputWidth = a.input.width; inputHeight = a.input.height
        var layers: [Layer] = []
        var cin = a.encoder.inputPlaneCount, h = a.input.height, w = a.input.width, maxColumns = 0, maxSplit = 0
        for (i, cout) in (a.encoder.convChannels ?? []).enumerated() {
            let oh = Kernels.convOutputSize(h, stride: 2), ow = Kernels.convOutputSize(w, stride: 2)
            layers.append(Layer(inChannels: cin, outChannels: cout, inHeight: h, inWidth: w,
                                outHeight: oh, outWidth: ow,
                                weight: FloatBuffer(parameters["encoder.conv\(i).weight"]!.values),
                                bias: FloatBuffer(parameters["encoder.conv\(i).bias"]!.values),
                                output: FloatBuffer(count: cout * oh * ow)))
            maxColumns = max(maxColumns, cin * 9 * oh * ow)
            maxSplit = max(maxSplit, Kernels.im2colScratchCount(height: h, width: w))
            cin = cout; h = oh; w = ow
        }
        self.layers = layers
        differenceGain = a.encoder.effectiveDifferenceGain
        perFrame = a.input.isPerFrame
        featureCount = cin * h * w
        hasPreviousDifference = a.encoder.hasPreviousDifferencePlane
        inputPlanes = FloatBuffer(count: a.encoder.inputPlaneCount * a.input.width * a.input.height)
        columns = FloatBuffer(count: maxColumns)
        splitRows = FloatBuffer(count: maxSplit)
        if wantsDirect, Kernels.hasAVX2FMA, !layers.isEmpty {
            let stack = DirectConvStack(inputPlanes: a.encoder.inputPlaneCount, height: a.input.height,
                                        width: a.input.width, channels: layers.map(\.outChannels))
            for (l, layer) in layers.enumerated() {
                stack.setWeights(layer: l, weight: layer.weight.pointer, bias: layer.bias.pointer)
            }
            direct = stack
        } else {
            direct = nil
        }
    }

    private init(sharingWeightsOf other: ConvEncoder) {
        inputWidth = other.inputWidth; inputHeight = other.inputHeight; featureCount = other.featureCount
        layers = other.layers.map { l in
            Layer(inChannels: l.inChannels, outChannels: l.outChannels, inHeight: l.inHeight, inWidth: l.inWidth,
                  outHeight: l.outHeight, outWidth: l.outWidth, weight: l.weight, bias: l.bias,
                  output: FloatBuffer(count: l.output.count))
        }
        hasPreviousDifference = other.hasPreviousDifference
        differenceGain = other.differenceGain
        perFrame = other.perFrame
        inputPlanes = FloatBuffer(count: other.inputPlanes.count)
        columns = FloatBuffer(count: other.columns.count)
        splitRows = FloatBuffer(count: other.splitRows.count)
        direct = other.direct?.replica()
    }

    public func replica() -> FrameEncoder { ConvEncoder(sharingWeightsOf: self) }

    /// The weights' storage (tests check that replicas share it).
    public var firstWeight: UnsafeMutablePointer<Float>? { layers.first?.weight.pointer }

    public func encode(current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>,
                       beforePrevious: UnsafeBufferPointer<UInt8>, into features: UnsafeMutablePointer<Float>) {
        let n = inputWidth * inputHeight
        precondition(current.count == n && previous.count == n && beforePrevious.count == n,
                     "frame must be \(inputWidth)x\(inputHeight) gray8")
        if let direct {
            direct.setInput(current: current.baseAddress!, previous: previous.baseAddress!,
                            beforePrevious: beforePrevious.baseAddress!, differenceGain: differenceGain,
                            perFrame: perFrame)
            direct.run()
            direct.copyFeaturesCHW(into: features)
            return
        }
        Kernels.encoderInputPlanes(current: current.baseAddress!, previous: previous.baseAddress!,
                                   beforePrevious: beforePrevious.baseAddress!, count: n, differenceGain: differenceGain,
                                   withPreviousDifference: hasPreviousDifference, perFrame: perFrame,
                                   into: inputPlanes.pointer)
        var input = UnsafePointer(inputPlanes.pointer)
        for layer in layers {
            Kernels.im2col3x3(input: input, channels: layer.inChannels, height: layer.inHeight, width: layer.inWidth,
                              columns: columns.pointer, scratch: splitRows.pointer)
            let k = layer.inChannels * 9, cols = layer.outHeight * layer.outWidth
            Kernels.gemm(m: layer.outChannels, n: cols, k: k, a: layer.weight.pointer, lda: k,
                         b: columns.pointer, ldb: cols, beta: 0, c: layer.output.pointer, ldc: cols)
            Kernels.addRowBiasReLU(layer.output.pointer, rows: layer.outChannels, cols: cols, bias: layer.bias.pointer)
            input = UnsafePointer(layer.output.pointer)
        }
        features.update(from: input, count: featureCount)
    }
}

/// Weight-free encoder: mean |frame difference| (in 0...1) over each cell of a rows × cols grid, then four global
/// statistics: mean |difference|, mean brightness, fraction of "moving" pixels (|difference| > threshold levels),
/// and the largest cell energy. Integer sums keep it exact and identical to the reference.
/// The pixels of cell `index` of `count` along a side of `size` pixels: edges at floor(k·size/count), so every pixel
/// belongs to exactly one cell (both weight-free encoders cut their grids so).
@inline(__always)
func gridCell(_ index: Int, of count: Int, size: Int) -> Range<Int> { (index * size / count)..<((index + 1) * size / count) }

public final class MotionEnergyEncoder: FrameEncoder {
    public static let globalFeatureCount = 4

    public let inputWidth: Int
    public let inputHeight: Int
    public let featureCount: Int
    public let gridRows: Int
    public let gridCols: Int
    public let activeThresholdLevels: Int

    public init(architecture a: ModelArchitecture) {
        precondition(a.encoder.kind == .motionEnergy)
        inputWidth = a.input.width; inputHeight = a.input.height
        gridRows = a.encoder.gridRows ?? 8; gridCols = a.encoder.gridCols ?? 8
        activeThresholdLevels = a.encoder.activeThresholdLevels ?? 10
        featureCount = gridRows * gridCols + MotionEnergyEncoder.globalFeatureCount
    }

    private init(copying other: MotionEnergyEncoder) {
        inputWidth = other.inputWidth; inputHeight = other.inputHeight; featureCount = other.featureCount
        gridRows = other.gridRows; gridCols = other.gridCols; activeThresholdLevels = other.activeThresholdLevels
    }

    /// No weights and no state: a copy of the settings.
    public func replica() -> FrameEncoder { MotionEnergyEncoder(copying: self) }

    /// Reads the current and previous frames only.
    public func encode(current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>,
                       beforePrevious: UnsafeBufferPointer<UInt8>, into features: UnsafeMutablePointer<Float>) {
        let w = inputWidth, h = inputHeight
        precondition(current.count == w * h && previous.count == w * h, "frame must be \(w)x\(h) gray8")
        var totalDiff = 0, totalBright = 0, active = 0
        var maxCell: Float = 0
        for gr in 0..<gridRows {
            let rows = gridCell(gr, of: gridRows, size: h)
            for gc in 0..<gridCols {
                let cols = gridCell(gc, of: gridCols, size: w)
                var cellDiff = 0
                for y in rows {
                    let row = y * w
                    for x in cols {
                        let c = Int(current[row + x]), d = abs(c - Int(previous[row + x]))
                        cellDiff += d
                        totalBright += c
                        if d > activeThresholdLevels { active += 1 }
                    }
                }
                totalDiff += cellDiff
                let cellCount = rows.count * cols.count
                let energy = cellCount > 0 ? Float(cellDiff) / Float(cellCount * 255) : 0
                features[gr * gridCols + gc] = energy
                maxCell = max(maxCell, energy)
            }
        }
        let n = Float(w * h), g = features + gridRows * gridCols
        g[0] = Float(totalDiff) / (n * 255)
        g[1] = Float(totalBright) / (n * 255)
        g[2] = Float(active) / n
        g[3] = maxCell
    }
}

/// Weight-free motion by block matching (issue 40, lever 3: motion that looks alike in every domain). The frames are
/// halved (2×2 means) and cut into the grid; per cell, in this order:
/// 0. energy: mean |current − previous| / 255, as MotionEnergyEncoder's cell;
/// 1–2. displacement (dx, dy) / radius: the shift within ±radius half-resolution pixels (per axis) whose
///    previous-frame content best matches the cell now (least sum of |differences|; ties go to the shorter shift,
///    so a still or textureless cell stays at 0), 0 when the cell's mean |difference| is at most half the active
///    threshold;
/// 3. change: |displacement now − the same cell's displacement a step earlier (previous vs the frame before)| /
///    radius: a hit stops, reverses or starts a motion, and this is where that shows;
/// 4. residual: the best match's mean |difference| / 255, what a shift does not explain (a flash, a deformation).
/// Then 4 globals: mean energy, mean brightness / 255, the share of cells that moved, the largest change.
/// Only pixels whose every candidate source lies inside the frame are compared, so each cell's candidates are
/// scored on the same pixels (a cell narrower than that scores none and keeps displacement 0). Reads all three
/// frames; no weights, no state between steps; scratch allocated once.
public final class MotionFlowEncoder: FrameEncoder {
    public static let cellFeatureCount = 5
    public static let globalFeatureCount = 4

    public let inputWidth: Int
    public let inputHeight: Int
    public let featureCount: Int
    public let gridRows: Int
    public let gridCols: Int
    public let activeThresholdLevels: Int
    public let searchRadius: Int
    /// The half-resolution size the search runs at.
    public let halfWidth: Int
    public let halfHeight: Int

    /// The three halved frames, current first, each halfWidth × halfHeight.
    private let halves: UnsafeMutablePointer<UInt8>
    /// Candidate shifts as (dx, dy) pairs, shortest first.
    private let shifts: UnsafeMutablePointer<Int32>
    private let shiftCount: Int

    public init(architecture a: ModelArchitecture) {
        precondition(a.encoder.kind == .motionFlow)
        inputWidth = a.input.width; inputHeight = a.input.height
        gridRows = a.encoder.gridRows ?? 8; gridCols = a.encoder.gridCols ?? 8
        activeThresholdLevels = a.encoder.activeThresholdLevels ?? 10
        searchRadius = a.encoder.flowSearchRadius ?? 3
        featureCount = gridRows * gridCols * MotionFlowEncoder.cellFeatureCount + MotionFlowEncoder.globalFeatureCount
        halfWidth = inputWidth / 2; halfHeight = inputHeight / 2
        halves = .allocate(capacity: 3 * halfWidth * halfHeight)
        halves.initialize(repeating: 0, count: 3 * halfWidth * halfHeight)
        let r = searchRadius
        var pairs: [(Int, Int)] = []
        for dy in -r...r { for dx in -r...r { pairs.append((dx, dy)) } }
        // Shortest first; among equals a fixed order, so the choice never depends on the sort's stability.
        pairs.sort { ($0.0 * $0.0 + $0.1 * $0.1, $0.1, $0.0) < ($1.0 * $1.0 + $1.1 * $1.1, $1.1, $1.0) }
        shiftCount = pairs.count
        shifts = .allocate(capacity: 2 * pairs.count)
        for (i, p) in pairs.enumerated() { shifts[2 * i] = Int32(p.0); shifts[2 * i + 1] = Int32(p.1) }
    }

    deinit {
        halves.deallocate()
        shifts.deallocate()
    }

    /// No weights: a fresh encoder with the same settings and its own scratch.
    public func replica() -> FrameEncoder {
        var a = ModelArchitecture.motionFlowDefault
        a.input = InputSpec(width: inputWidth, height: inputHeight)
        a.encoder = .motionFlow(rows: gridRows, cols: gridCols, activeThresholdLevels: activeThresholdLevels, searchRadius: searchRadius)
        return MotionFlowEncoder(architecture: a)
    }

    /// 2×2 means of a full frame into a half plane (an odd last row or column is left out).
    private func halve(_ frame: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) {
        let w = inputWidth
        for y in 0..<halfHeight {
            let top = 2 * y * w, bottom = top + w
            for x in 0..<halfWidth {
                let sum = Int(frame[top + 2 * x]) + Int(frame[top + 2 * x + 1]) + Int(frame[bottom + 2 * x]) + Int(frame[bottom + 2 * x + 1])
                out[y * halfWidth + x] = UInt8((sum + 2) >> 2)
            }
        }
    }

    /// The best shift of the cell [x0, x1) × [y0, y1) of `now` against `before`: (dx, dy, sum of |differences| of
    /// the best, pixels compared). Shift (dx, dy) compares now[y][x] with before[y − dy][x − dx].
    @inline(__always)
    private func bestShift(now: UnsafePointer<UInt8>, before: UnsafePointer<UInt8>, x0: Int, x1: Int, y0: Int, y1: Int,
                           stillBelow: Int) -> (dx: Int, dy: Int, cost: Int, count: Int) {
        let r = searchRadius, w = halfWidth
        let cx0 = max(x0, r), cx1 = min(x1, halfWidth - r), cy0 = max(y0, r), cy1 = min(y1, halfHeight - r)
        guard cx1 > cx0, cy1 > cy0 else { return (0, 0, 0, 0) }
        let count = (cx1 - cx0) * (cy1 - cy0)
        func cost(_ dx: Int, _ dy: Int, limit: Int) -> Int {
            var s = 0
            for y in cy0..<cy1 {
                let a = now + y * w, b = before + (y - dy) * w - dx
                for x in cx0..<cx1 { s &+= abs(Int(a[x]) - Int(b[x])) }
                if s >= limit { return s }   // cannot win: stop early
            }
            return s
        }
        var best = cost(0, 0, limit: Int.max), bx = 0, by = 0
        if best <= stillBelow * count { return (0, 0, best, count) }
        for i in 1..<shiftCount {
            let dx = Int(shifts[2 * i]), dy = Int(shifts[2 * i + 1])
            let c = cost(dx, dy, limit: best)
            if c < best { best = c; bx = dx; by = dy }
        }
        return (bx, by, best, count)
    }

    public func encode(current: UnsafeBufferPointer<UInt8>, previous: UnsafeBufferPointer<UInt8>,
                       beforePrevious: UnsafeBufferPointer<UInt8>, into features: UnsafeMutablePointer<Float>) {
        let w = inputWidth, h = inputHeight
        precondition(current.count == w * h && previous.count == w * h && beforePrevious.count == w * h,
                     "frame must be \(w)x\(h) gray8")
        let hw = halfWidth, hh = halfHeight, plane = hw * hh
        let now = halves, prev = halves + plane, prev2 = halves + 2 * plane
        halve(current, into: now); halve(previous, into: prev); halve(beforePrevious, into: prev2)
        // Half the active threshold, in whole levels per pixel.
        let stillBelow = activeThresholdLevels / 2
        let radius = Float(searchRadius)
        var totalDiff = 0, totalBright = 0, moved = 0
        var maxChange: Float = 0
        for gr in 0..<gridRows {
            let rows = gridCell(gr, of: gridRows, size: hh)
            let y0 = rows.lowerBound, y1 = rows.upperBound
            for gc in 0..<gridCols {
                let cols = gridCell(gc, of: gridCols, size: hw)
                let x0 = cols.lowerBound, x1 = cols.upperBound
                var cellDiff = 0
                for y in rows {
                    let row = y * hw
                    for x in cols {
                        let c = Int(now[row + x])
                        cellDiff += abs(c - Int(prev[row + x]))
                        totalBright += c
                    }
                }
                totalDiff += cellDiff
                let cellCount = rows.count * cols.count
                let f = features + (gr * gridCols + gc) * MotionFlowEncoder.cellFeatureCount
                f[0] = cellCount > 0 ? Float(cellDiff) / Float(cellCount * 255) : 0
                let m = bestShift(now: now, before: prev, x0: x0, x1: x1, y0: y0, y1: y1, stillBelow: stillBelow)
                let e = bestShift(now: prev, before: prev2, x0: x0, x1: x1, y0: y0, y1: y1, stillBelow: stillBelow)
                f[1] = Float(m.dx) / radius
                f[2] = Float(m.dy) / radius
                let ddx = Float(m.dx - e.dx), ddy = Float(m.dy - e.dy)
                f[3] = (ddx * ddx + ddy * ddy).squareRoot() / radius
                f[4] = m.count > 0 ? Float(m.cost) / Float(m.count * 255) : 0
                if m.dx != 0 || m.dy != 0 { moved += 1 }
                maxChange = max(maxChange, f[3])
            }
        }
        let n = Float(plane), g = features + gridRows * gridCols * MotionFlowEncoder.cellFeatureCount
        g[0] = Float(totalDiff) / (n * 255)
        g[1] = Float(totalBright) / (n * 255)
        g[2] = Float(moved) / Float(gridRows * gridCols)
        g[3] = maxChange
    }
}
