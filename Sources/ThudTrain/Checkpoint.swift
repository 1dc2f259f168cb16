import Foundation
import ThudBase
import ThudModel

/// Where a training run stands: enough, with the trainer's tensors, to continue exactly where it stopped.
public struct TrainingState: Codable, Sendable, Equatable {
    /// Epochs fully done.
    public var epochsDone = 0
    /// The next batch of the epoch in progress (non-zero only for a checkpoint taken on Ctrl-C).
    public var nextBatch = 0
    /// The loss summed over the batches of the epoch in progress, so a resumed epoch reports the same mean.
    public var partialLossSum = 0.0
    public var partialLossCount = 0
    public var bestScore: Double?
    public var bestEpoch: Int?
    public var history: [EpochRecord] = []
    /// The settings the run was started with; --resume refuses a checkpoint made with other settings.
    public var settingsFingerprint: String = ""
    /// The clips it trains and validates on (TrainingData); --resume refuses a checkpoint made on other clips.
    /// Absent in checkpoints written before it existed, which resume unchecked.
    public var data: TrainingData?
    public init() {}
}

public struct EpochRecord: Codable, Sendable, Equatable {
    public var epoch: Int
    public var trainLoss: Double
    public var validationLoss: Double?
    public var validationR: Double?
    public var validationF1: Double?
    /// Hit F1 of the onset output (architectures with one); absent in older checkpoints.
    public var validationOnsetOutputF1: Double?
    public var seconds: Double
    public var clipsPerSecond: Double
}

public struct CheckpointError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    /// 74 when the checkpoint cannot be written (README, "Exit codes"); 1 for a checkpoint that cannot be used.
    public let exitCode: Int32
    public init(path: String, problem: String, exitCode: Int32 = 1) {
        self.path = path; self.problem = problem; self.exitCode = exitCode
    }
    public var description: String { "checkpoint \(path): \(problem)" }
}

/// A checkpoint file: magic "THUDCKPT", u32 version, u32 JSON length, the JSON state, u32 tensor count, then
/// per tensor (u32 name length, name, u32 rank, u32 dims…, float32 values), and a CRC-32 of all before it.
/// Written through AtomicFile (temporary sibling, fsync, rename, folder fsync):
/// a crash at any moment leaves either the old checkpoint or the new one, never a mix.
public struct Checkpoint: Sendable {
    static let magic = Array("THUDCKPT".utf8)
    static let version: UInt32 = 1

    public var state: TrainingState
    public var tensors: [NamedTensor]

    public init(state: TrainingState, tensors: [NamedTensor]) {
        self.state = state
        self.tensors = tensors
    }

    func encoded() throws -> [UInt8] {
        var out = Self.magic
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { out.append(contentsOf: $0) } }
        u32(Int(Self.version))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = try encoder.encode(state)
        u32(json.count)
        out.append(contentsOf: json)
        u32(tensors.count)
        for t in tensors {
            let name = Array(t.name.utf8)
            u32(name.count); out.append(contentsOf: name)
            u32(t.shape.count); t.shape.forEach(u32)
            t.values.withUnsafeBytes { out.append(contentsOf: $0) }
        }
        withUnsafeBytes(of: CRC32.checksum(out[...]).littleEndian) { out.append(contentsOf: $0) }
        return out
    }

    public func write(to path: String) throws {
        let bytes = try encoded()
        let folder = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder.isEmpty ? "." : folder, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError(path: path, problem: "cannot be written (its folder cannot be created)", exitCode: 74)
        }
        do { try AtomicFile.write(bytes, to: path) }
        catch let e as FileWriteError { throw CheckpointError(path: path, problem: e.problem, exitCode: e.exitCode) }
    }

    public static func read(path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError(path: path, problem: "not found") }
        let b = [UInt8](data)
        guard b.count >= 20, Array(b.prefix(8)) == magic else { throw CheckpointError(path: path, problem: "not a Thud checkpoint") }
        let stored = b[(b.count - 4)...].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
        guard CRC32.checksum(b[0..<(b.count - 4)]) == stored else { throw CheckpointError(path: path, problem: "checksum mismatch: file is corrupt") }
        var at = 8
        func u32() throws -> Int {
            guard at + 4 <= b.count - 4 else { throw CheckpointError(path: path, problem: "truncated") }
            defer { at += 4 }
            return Int(b[at..<at + 4].withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
        }
        guard try u32() == Int(version) else { throw CheckpointError(path: path, problem: "unknown checkpoint version") }
        let jsonLength = try u32()
        guard at + jsonLength <= b.count - 4 else { throw CheckpointError(path: path, problem: "truncated") }
        let state = try JSONDecoder().decode(TrainingState.self, from: Data(b[at..<at + jsonLength]))
        at += jsonLength
        var tensors: [NamedTensor] = []
        for _ in 0..<(try u32()) {
            let nameLength = try u32()
            guard at + nameLength <= b.count - 4 else { throw CheckpointError(path: path, problem: "truncated") }
            let name = String(decoding: b[at..<at + nameLength], as: UTF8.self)
            at += nameLength
            let rank = try u32()
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(try u32()) }
            let count = shape.reduce(1, *)
            guard at + 4 * count <= b.count - 4 else { throw CheckpointError(path: path, problem: "truncated") }
            let values = b[at..<at + 4 * count].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            at += 4 * count
            tensors.append(NamedTensor(name: name, shape: shape, values: values))
        }
        return Checkpoint(state: state, tensors: tensors)
    }
}

extension CheckpointError: OneLineError {
    public var message: String { description }
}
