import Foundation
import ThudMedia
import ThudModel
import ThudTestSupport

/// A model with hand-set weights that reacts to motion, so the hit paths (scoring at peak steps, the strip's
/// flash, the knock) can be tested without a trained model. Random weights give a flat envelope and no hits.
///
/// Motion-energy encoder → LSTM unit 0 of layer 0 takes the global mean |difference| (feature 64) as its cell
/// candidate, g = tanh(20·x), with the input and output gates held open and the forget gate shut (no memory);
/// layer 1's unit 0 passes it on (tanh(3·h)); the head passes unit 0 through its ReLU and maps it with
/// sigmoid(8·h − 4): about 0.02 on a still frame and 0.9 or more on a frame that changed.
enum MotionDetectorModel {
    static let architecture = ModelArchitecture(input: InputSpec(width: 32, height: 32), encoder: .motionEnergy(),
                                                lstmHidden: 4, lstmLayers: 2, headHidden: [2])

    static func file() -> ModelFile {
        let a = architecture, h = a.lstmHidden
        var tensors: [NamedTensor] = []
        for (name, shape) in a.parameterShapes {
            var v = [Float](repeating: 0, count: shape.reduce(1, *))
            switch name {
            case "lstm.weight_ih_l0": v[(2 * h) * shape[1] + 64] = 20            // g of unit 0 ← mean |difference|
            case "lstm.weight_ih_l1": v[(2 * h) * shape[1] + 0] = 3              // g of unit 0 ← layer 0's unit 0
            case "lstm.bias_ih_l0", "lstm.bias_ih_l1":
                v[0] = 10; v[h] = -10; v[3 * h] = 10                              // i open, f shut, o open (unit 0)
            case "head.fc0.weight": v[0] = 1
            case "head.fc1.weight": v[0] = 8
            case "head.fc1.bias": v[0] = -4
            default: break
            }
            tensors.append(NamedTensor(name: name, shape: shape, values: v))
        }
        return ModelFile(header: ModelHeader(architecture: a, training: TrainingProvenance(command: "none (hand-set test weights)", data: "none")),
                         tensors: tensors)
    }

    static func model() throws -> StreamingModel { try StreamingModel(file: file()) }

    /// A still gray picture with a white box that appears at `appear` and disappears at `disappear` (seconds),
    /// 25 fps, and a click in the audio at each of `clicks` (default: the same two moments). The defaults, 1 s and
    /// 2 s, are whole frames and whole steps (12 and 24), so picture, sound and steps line up exactly.
    static func writeClip(path: String, seconds: Double = 3, appear: Double = 1.0, disappear: Double = 2.0,
                          clicks: [Double]? = nil, width: Int = 96, height: Int = 64) throws {
        let writer = try MediaWriter(path: path, video: VideoEncodeSettings(width: width, height: height, nominalFrameRate: 25, crf: 18),
                                     audio: AudioEncodeSettings(sampleRate: 44100, channels: 1))
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<Int(seconds * 25) {
            let t = Double(i) / 25
            let box = t >= appear && t < disappear
            for y in 0..<height {
                for x in 0..<width {
                    let inBox = box && x >= width / 4 && x < width * 3 / 4 && y >= height / 4 && y < height * 3 / 4
                    let v: UInt8 = inBox ? 240 : 60
                    let o = (y * width + x) * 3
                    rgb[o] = v; rgb[o + 1] = v; rgb[o + 2] = v
                }
            }
            try rgb.withUnsafeBufferPointer { try writer.writeVideoFrame(rgb: $0, stride: width * 3, time: t) }
        }
        let audio = FrameCounterClip.clickTrack(rate: 44100, channels: 1, seconds: seconds, clicks: clicks ?? [appear, disappear])
        try audio.withUnsafeBufferPointer { try writer.writeAudio(interleaved: $0) }
        try writer.finish()
    }
}
