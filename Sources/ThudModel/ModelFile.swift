// The .thud model file: one self-describing, checksummed binary so a model can never be run with the wrong shapes.
//
// Layout (all integers little-endian):
//   magic            8 bytes  "THUDMODL"
//   format version   u32      1, or 3 when the header requires a feature (same layout; see ModelFile.formatVersion)
//   header length    u32      n
//   header           n bytes  UTF-8 JSON (ModelHeader: architecture, input, encoder kind, training, provenance)
//   tensor count     u32
//   per tensor:      u32 name length, name UTF-8, u32 rank, rank × u32 dims, u64 byte offset into the data block
//   data length      u64      bytes
//   data             float32 little-endian, row-major (PyTorch layout for the same name); IEEE float16 instead
//                    when the header's weightStorage says so (and requires "float16Weights")
//   checksum         u32      CRC-32 (IEEE, as zlib.crc32) of every byte before it
// tools/reference/thud_format.py reads and writes the same layout.
import Foundation
import ThudBase

/// Why a model file could not be read or written. `message` is one line naming the file and the problem.
public struct ModelFileError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public enum Problem: Equatable {
        case notFound
        case unreadable(String)
        case badMagic
        case unknownVersion(UInt32)
        case unknownFeature(String)
        case truncated(String)
        case trailingBytes(Int)
        case checksumMismatch(stored: UInt32, computed: UInt32)
        case badHeader(String)
        case badTensorTable(String)
        case shapeMismatch(String)
        case unwritable(String)
        /// The model's output is not a number (weights so large that float arithmetic overflows): on loading, or at
        /// a step of a stream.
        case nonFiniteOutput(String)
    }

    public let path: String
    public let problem: Problem

    public init(path: String, problem: Problem) { self.path = path; self.problem = problem }

    /// 20 (model file missing or invalid) except for a failed write, which is 74 (output cannot be written).
    public var exitCode: Int32 {
        if case .unwritable = problem { return 74 }
        return 20
    }

    public var message: String {
        let what: String
        switch problem {
        case .notFound: what = "not found"
        case .unreadable(let why): what = "cannot be read (\(why))"
        case .badMagic: what = "not a Thud model (bad magic; expected \"THUDMODL\")"
        case .unknownVersion(let v): what = "unknown format version \(v) (this build reads version \(ModelFile.formatVersion))"
        case .unknownFeature(let name): what = "requires the feature \"\(name)\", which this build does not know (a newer Thud wrote it)"
        case .truncated(let where_): what = "truncated (\(where_))"
        case .trailingBytes(let n): what = "corrupt (\(n) unexpected bytes after the checksum)"
        case .checksumMismatch(let stored, let computed):
            what = String(format: "checksum mismatch (stored %08x, computed %08x): file is corrupt", stored, computed)
        case .badHeader(let why): what = "bad JSON header (\(why))"
        case .badTensorTable(let why): what = "bad tensor table (\(why))"
        case .shapeMismatch(let why): what = "tensors do not fit the header's architecture (\(why))"
        case .unwritable(let why): what = "cannot be written (\(why))"
        case .nonFiniteOutput(let when): what = "its output is not a number \(when) (weights so large that float arithmetic overflows); not a usable model"
        }
        return "model file \(path): \(what)"
    }

    public var description: String { message }
    public var errorDescription: String? { message }
}

public struct ModelFile: Equatable {
    public static let magic: [UInt8] = Array("THUDMODL".utf8)
    /// The newest format version this build reads. The version names the *layout*; what a header means beyond
    /// it is said by the header's `requires` list, the features a reader must understand to run the model right.
    ///  1: the layout above; nothing required.
    ///  2: version 1 with an output delay in the header (how the first feature was flagged; read, no longer written).
    ///  3: version 1 whose header's `requires` a reader honours: it refuses a file that requires a feature it does
    ///     not know (ModelHeader.knownFeatures) instead of running it wrong. Readers of 1 and 2 refuse version 3.
    /// A new feature is a new name in `requires` (and in knownFeatures), never a new version; a new layout is.
    public static let formatVersion: UInt32 = 3

    /// The version `encoded()` writes for this header: 1 while it requires nothing (every build reads it right),
    /// else 3 (builds that cannot honour `requires` refuse it rather than put its values on the wrong steps).
    public var writtenVersion: UInt32 { header.requiredFeatures.isEmpty ? 1 : 3 }

    public var header: ModelHeader
    /// In the architecture's `parameterShapes` order when written by `ModelFile`; readers look tensors up by name.
    public var tensors: [NamedTensor]

    public init(header: ModelHeader, tensors: [NamedTensor]) {
        self.header = header; self.tensors = tensors
    }

    /// A model with seeded random weights for `architecture` (training's starting point; tests; benchmarks).
    public static func random(architecture: ModelArchitecture, seed: UInt64,
                              training: TrainingProvenance = TrainingProvenance(command: "none (random init)", data: "none"),
                              provenance: [String: String] = [:]) -> ModelFile {
        var prov = provenance
        prov["init"] = prov["init"] ?? "random seed \(seed)"
        return ModelFile(header: ModelHeader(architecture: architecture, training: training, provenance: prov),
                         tensors: architecture.randomParameters(seed: seed))
    }

    public func tensor(named name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    /// The first tensor holding a value a half cannot hold (beyond ±65504: it would become infinite), by name.
    var tensorBeyondHalfRange: String? {
        let limit = Float(Float16.greatestFiniteMagnitude)
        return tensors.first { $0.values.contains { abs($0) > limit } }?.name
    }

    /// This model stored in half precision: every weight rounded to the nearest float16 (the values a float16 file
    /// reads back, so the model in memory equals the one written), weightStorage .float16. Nil when a weight lies
    /// beyond half precision's range (±65504).
    public func roundedToFloat16() -> ModelFile? {
        guard tensorBeyondHalfRange == nil else { return nil }
        var file = self
        file.header.weightStorage = .float16
        file.tensors = tensors.map { NamedTensor(name: $0.name, shape: $0.shape, values: $0.values.map { Float(Float16($0)) }) }
        return file
    }

    // MARK: Writing

    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out += ModelFile.magic
        out.appendLE(writtenVersion)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain Codable structs of strings and numbers cannot fail.
        let json = try! encoder.encode(header)
        out.appendLE(UInt32(json.count))
        out += json
        out.appendLE(UInt32(tensors.count))
        var offset: UInt64 = 0
        for t in tensors {
            let name = Array(t.name.utf8)
            out.appendLE(UInt32(name.count)); out += name
            out.appendLE(UInt32(t.shape.count))
            for d in t.shape { out.appendLE(UInt32(d)) }
            out.appendLE(offset)
            offset += UInt64(t.values.count * header.weightStorage.byteCount)
        }
        out.appendLE(offset)
        out.reserveCapacity(out.count + Int(offset) + 4)
        switch header.weightStorage {
        case .float32: for t in tensors { for v in t.values { out.appendLE(v.bitPattern) } }
        // Rounded to nearest (write() has refused values beyond half precision's range).
        case .float16: for t in tensors { for v in t.values { out.appendLE(Float16(v).bitPattern) } }
        }
        out.appendLE(CRC32.checksum(out[...]))
        return out
    }

    /// Writes atomically (temporary file + rename), so a failed write never leaves a half-written model behind.
    public func write(to path: String) throws {
        // A model of NaN weights loads and predicts NaN: it must never replace a working one.
        if let bad = tensors.first(where: { !$0.values.allSatisfy(\.isFinite) }) {
            throw ModelFileError(path: path, problem: .unwritable("tensor \(bad.name) holds values that are not finite numbers"))
        }
        if header.weightStorage == .float16, let big = tensorBeyondHalfRange {
            throw ModelFileError(path: path, problem: .unwritable("tensor \(big) holds values beyond half precision's range (±65504)"))
        }
        do {
            try AtomicFile.write(encoded(), to: path)
        } catch let e as FileWriteError {
            throw ModelFileError(path: path, problem: .unwritable(e.problem))
        } catch {
            throw ModelFileError(path: path, problem: .unwritable("\(error)"))
        }
    }

    // MARK: Reading

    public static func read(path: String) throws -> ModelFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelFileError(path: path, problem: .notFound)
        }
        if isDirectory.boolValue { throw ModelFileError(path: path, problem: .unreadable("is a directory")) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(path: path, problem: .unreadable("permission denied or I/O error"))
        }
        return try decode([UInt8](data), path: path)
    }

    /// Parses and fully validates a model: structure, checksum, header, and every tensor's name and shape against
    /// the architecture. Bounds are checked before every read and every size before it is allocated, so corrupt
    /// input of any kind gives a ModelFileError, never a crash or a huge allocation.
    public static func decode(_ bytes: [UInt8], path: String) throws -> ModelFile {
        func fail(_ p: ModelFileError.Problem) -> ModelFileError { ModelFileError(path: path, problem: p) }
        var r = ByteReader(bytes: bytes, path: path)

        if bytes.count < magic.count {
            throw bytes.count == 0 ? fail(.truncated("empty file")) : fail(.badMagic)
        }
        guard Array(bytes[0..<magic.count]) == magic else { throw fail(.badMagic) }
        r.position = magic.count
        let version = try r.u32("format version")
        guard (1...formatVersion).contains(version) else { throw fail(.unknownVersion(version)) }

        let headerLength = Int(try r.u32("header length"))
        let headerBytes = try r.bytes(headerLength, "JSON header")
        let tensorCount = Int(try r.u32("tensor count"))
        guard tensorCount <= 10_000 else { throw fail(.badTensorTable("\(tensorCount) tensors")) }

        struct Entry { var name: String; var shape: [Int]; var offset: Int; var count: Int }
        var entries: [Entry] = []
        for index in 0..<tensorCount {
            let nameLength = Int(try r.u32("tensor \(index) name length"))
            guard nameLength >= 1, nameLength <= 256 else {
                throw fail(.badTensorTable("tensor \(index) name length \(nameLength)"))
            }
            let nameBytes = try r.bytes(nameLength, "tensor \(index) name")
            guard let name = String(bytes: nameBytes, encoding: .utf8) else {
                throw fail(.badTensorTable("tensor \(index) name is not UTF-8"))
            }
            let rank = Int(try r.u32("tensor \(name) rank"))
            guard rank <= 8 else { throw fail(.badTensorTable("tensor \(name) rank \(rank)")) }
            var shape: [Int] = []
            var count = 1
            for _ in 0..<rank {
                let d = Int(try r.u32("tensor \(name) shape"))
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= (1 << 30) else {
                    throw fail(.badTensorTable("tensor \(name) is absurdly large"))
                }
                shape.append(d); count = product
            }
            let offset = try r.u64("tensor \(name) offset")
            guard offset <= UInt64(Int.max / 2) else { throw fail(.badTensorTable("tensor \(name) offset \(offset)")) }
            entries.append(Entry(name: name, shape: shape, offset: Int(offset), count: count))
        }
        let dataLength64 = try r.u64("data length")
        let remaining = bytes.count - r.position
        // Data plus the 4-byte checksum must be exactly what is left: fewer is truncation, more is corruption.
        guard dataLength64 <= UInt64(remaining), remaining - Int(dataLength64) >= 4 else {
            throw fail(.truncated("data block of \(dataLength64) bytes plus checksum, \(remaining) bytes left"))
        }
        let dataLength = Int(dataLength64)
        let dataStart = r.position
        if remaining - dataLength > 4 { throw fail(.trailingBytes(remaining - dataLength - 4)) }

        let checksumAt = dataStart + dataLength
        let stored = UInt32(bytes[checksumAt]) | UInt32(bytes[checksumAt + 1]) << 8
            | UInt32(bytes[checksumAt + 2]) << 16 | UInt32(bytes[checksumAt + 3]) << 24
        let computed = CRC32.checksum(bytes[0..<checksumAt])
        guard stored == computed else { throw fail(.checksumMismatch(stored: stored, computed: computed)) }

        let header: ModelHeader
        do {
            header = try JSONDecoder().decode(ModelHeader.self, from: Data(headerBytes))
        } catch let DecodingError.keyNotFound(key, _) {
            throw fail(.badHeader("missing \"\(key.stringValue)\""))
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx),
                let DecodingError.dataCorrupted(ctx) {
            let at = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw fail(.badHeader(at.isEmpty ? "not valid JSON" : "bad value at \(at)"))
        } catch {
            throw fail(.badHeader("not valid JSON"))
        }
        // Version 2 said "output delay" by its number; version 3 says what it requires by name.
        if version == 3, let unknown = header.requires.first(where: { !ModelHeader.knownFeatures.contains($0) }) {
            throw fail(.unknownFeature(unknown))
        }
        if let problem = header.architecture.validationProblem() { throw fail(.badHeader(problem)) }
        guard header.stepRateHz == StepRate.hz else {
            throw fail(.badHeader("stepRateHz \(header.stepRateHz): Thud runs at \(StepRate.perSecond) steps a second only"))
        }
        if let problem = header.picker?.validationProblem(hasOnsetOutput: header.architecture.hasOnsetOutput) {
            throw fail(.badHeader("picker: \(problem)"))
        }

        // Every tensor the architecture needs, with exactly its shape, and nothing else.
        let expected = header.architecture.parameterShapes
        var byName: [String: Entry] = [:]
        for e in entries {
            guard byName[e.name] == nil else { throw fail(.badTensorTable("tensor \(e.name) appears twice")) }
            byName[e.name] = e
        }
        for (name, shape) in expected {
            guard let e = byName[name] else { throw fail(.shapeMismatch("missing tensor \(name)")) }
            guard e.shape == shape else {
                throw fail(.shapeMismatch("tensor \(name) has shape \(e.shape), architecture needs \(shape)"))
            }
        }
        if let extra = entries.first(where: { e in !expected.contains { $0.name == e.name } }) {
            throw fail(.shapeMismatch("unexpected tensor \(extra.name)"))
        }

        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(expected.count)
        let size = header.weightStorage.byteCount
        for (name, shape) in expected {
            let e = byName[name]!
            guard e.offset % size == 0, e.offset + e.count * size <= dataLength else {
                throw fail(.badTensorTable("tensor \(name) lies outside the data block"))
            }
            var values = [Float](repeating: 0, count: e.count)
            let start = dataStart + e.offset
            if header.weightStorage == .float16 {
                // Every half is exactly a float.
                for i in 0..<e.count {
                    values[i] = Float(Float16(bitPattern: UInt16(bytes[start + 2 * i]) | UInt16(bytes[start + 2 * i + 1]) << 8))
                }
            } else {
            #if _endian(little)
            values.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + e.count * 4)]))
                }
            }
            #else
            for i in 0..<e.count {
                let p = start + i * 4
                values[i] = Float(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8
                    | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
            }
            #endif
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw fail(.badTensorTable("tensor \(name) holds a non-finite value at \(bad)"))
            }
            tensors.append(NamedTensor(name: name, shape: shape, values: values))
        }
        return ModelFile(header: header, tensors: tensors)
    }
}

/// Bounds-checked little-endian reads; running off the end is reported as truncation naming the field.
private struct ByteReader {
    let bytes: [UInt8]
    let path: String
    var position = 0

    init(bytes: [UInt8], path: String) { self.bytes = bytes; self.path = path }

    mutating func bytes(_ n: Int, _ field: String) throws -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - position else {
            throw ModelFileError(path: path, problem: .truncated("ends inside \(field)"))
        }
        defer { position += n }
        return bytes[position..<(position + n)]
    }

    mutating func u32(_ field: String) throws -> UInt32 {
        let b = try bytes(4, field)
        let i = b.startIndex
        return UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }

    mutating func u64(_ field: String) throws -> UInt64 {
        let lo = UInt64(try u32(field)), hi = UInt64(try u32(field))
        return lo | hi << 32
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib.crc32), table-driven.
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        table.withUnsafeBufferPointer { t in
            bytes.withUnsafeBufferPointer { b in
                var c: UInt32 = 0xFFFF_FFFF
                for byte in b { c = t[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
                return c ^ 0xFFFF_FFFF
            }
        }
    }
}

extension Array where Element == UInt8 {
    fileprivate mutating func appendLE(_ v: UInt32) {
        append(UInt8(v & 0xFF)); append(UInt8((v >> 8) & 0xFF))
        append(UInt8((v >> 16) & 0xFF)); append(UInt8(v >> 24))
    }
    fileprivate mutating func appendLE(_ v: UInt16) {
        append(UInt8(v & 0xFF)); append(UInt8(v >> 8))
    }
    fileprivate mutating func appendLE(_ v: UInt64) {
        appendLE(UInt32(v & 0xFFFF_FFFF)); appendLE(UInt32(v >> 32))
    }
}

extension ModelFileError: OneLineError {}
