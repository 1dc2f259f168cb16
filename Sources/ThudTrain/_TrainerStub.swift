// TEMPORARY: stands in for the train branch's ModelTrainer until it is merged. Delete on merge.
import ThudModel
public struct TrainingSequence {
    public var frames: [UInt8]; public var previousFrame: [UInt8]?; public var targets: [Float]; public var weights: [Float]?
    public init(frames: [UInt8], previousFrame: [UInt8]?, targets: [Float], weights: [Float]? = nil) {
        self.frames = frames; self.previousFrame = previousFrame; self.targets = targets; self.weights = weights
    }
}
public final class ModelTrainer {
    public let architecture: ModelArchitecture
    public init(architecture: ModelArchitecture, seed: UInt64) { self.architecture = architecture }
    public init(modelFile: ModelFile) throws { architecture = modelFile.header.architecture }
    public func computeGradients(batch: [TrainingSequence]) -> Float { 0 }
    public func clipGradients(maxNorm: Float) -> Float { 0 }
    public func adamStep(learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0) {}
    public func predict(frames: [UInt8], count: Int) -> [Float] { [] }
    public func modelFile(header: ModelHeader) -> ModelFile { fatalError() }
    public func checkpointTensors() -> [NamedTensor] { [] }
    public func restore(checkpointTensors: [NamedTensor]) throws {}
}
