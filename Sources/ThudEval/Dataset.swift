import Foundation
import ThudBase

/// One clip of a dataset, before anything is decoded.
public struct DatasetClip: Sendable, Equatable {
    public var id: String
    public var path: String
    /// Something-Something's template ("Dropping [something] onto [something]"), or the folder name for
    /// a plain folder of videos.
    public var template: String
    public var label: String
    public var split: DatasetSplit
    /// Ground-truth hits from the corpus generator (DIR/hits/<id>.json), when present.
    public var hitsPath: String?
    /// Which of several combined datasets the clip comes from (its position among them; 0 for one dataset).
    public var source: Int = 0
}

public enum DatasetSplit: String, Sendable, CaseIterable, Codable {
    case train, validation, test
}

public struct DatasetError: Error, CustomStringConvertible {
    public let path: String
    public let problem: String
    /// 10 for a dataset folder that does not exist (README, "Exit codes": input not found), 11 for one that is not
    /// a dataset.
    public var exitCode: Int32 = 11
    public var description: String { "\(path): \(problem)" }
}

/// A dataset on disk in one of two layouts:
/// - Something-Something's: `labels.json` (template → index), `train.json`, `validation.json`, `test.json`
///   (or `something-something-v2-<split>.json`), each a list of {"id", "label", "template", "placeholders"},
///   and the videos in `videos/<id>.<ext>` (or `20bn-something-something-v2/`); optional `hits/<id>.json`;
/// - a plain folder of videos (any container FFmpeg reads), searched recursively; each clip's class is its
///   folder's name, and a stable hash of its path puts `validationShare` of them in validation.
public struct Dataset: Sendable {
    public var root: String
    public var layout: Layout
    public var clips: [DatasetClip]

    public enum Layout: String, Sendable { case somethingSomething = "something-something", folder }

    static let videoExtensions = ["mp4", "webm", "mkv", "avi", "mov", "m4v", "mpg", "mpeg", "ts", "ogv", "flv", "3gp"]

    public static func load(_ root: String, validationShare: Double = 0.1) throws -> Dataset {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDir) else {
            throw DatasetError(path: root, problem: "no such dataset folder", exitCode: 10)
        }
        guard isDir.boolValue else { throw DatasetError(path: root, problem: "not a directory") }
        if splitFile(root, .train) != nil || splitFile(root, .validation) != nil {
            return try loadSomethingSomething(root)
        }
        return try loadFolder(root, validationShare: validationShare)
    }

    static func splitFile(_ root: String, _ split: DatasetSplit) -> String? {
        for name in ["\(split.rawValue).json", "something-something-v2-\(split.rawValue).json"] {
            let p = (root as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: p) { return p }
        }
        return nil
    }

    private struct AnnotationEntry: Decodable {
        var id: String
        var label: String?
        var template: String?
        var placeholders: [String]?
    }

    static func loadSomethingSomething(_ root: String) throws -> Dataset {
        let videoDirs = ["videos", "20bn-something-something-v2"].map { (root as NSString).appendingPathComponent($0) }
        let videoDir = videoDirs.first { FileManager.default.fileExists(atPath: $0) } ?? videoDirs[0]
        // One directory listing instead of probing each extension per clip.
        var byStem: [String: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: videoDir)) ?? [] {
            let ext = (name as NSString).pathExtension.lowercased()
            guard videoExtensions.contains(ext) else { continue }
            byStem[(name as NSString).deletingPathExtension] = (videoDir as NSString).appendingPathComponent(name)
        }
        let hitsDir = (root as NSString).appendingPathComponent("hits")
        var clips: [DatasetClip] = []
        for split in DatasetSplit.allCases {
            guard let file = splitFile(root, split) else { continue }
            let entries: [AnnotationEntry]
            do {
                entries = try JSONDecoder().decode([AnnotationEntry].self, from: Data(contentsOf: URL(fileURLWithPath: file)))
            } catch {
                throw DatasetError(path: file, problem: "not a Something-Something annotation list (\(error.localizedDescription))")
            }
            for e in entries {
                let hits = (hitsDir as NSString).appendingPathComponent("\(e.id).json")
                clips.append(DatasetClip(id: e.id, path: byStem[e.id] ?? (videoDir as NSString).appendingPathComponent("\(e.id).webm"),
                                         template: e.template ?? "", label: e.label ?? e.template ?? "", split: split,
                                         hitsPath: FileManager.default.fileExists(atPath: hits) ? hits : nil))
            }
        }
        return Dataset(root: root, layout: .somethingSomething, clips: clips)
    }

    static func loadFolder(_ root: String, validationShare: Double) throws -> Dataset {
        let clips = try videos(in: root, validationShare: validationShare)
        guard !clips.isEmpty else { throw DatasetError(path: root, problem: "no videos found (and no Something-Something annotation files)") }
        return Dataset(root: root, layout: .folder, clips: clips)
    }

    /// A plain folder's videos as `load` finds them, by id (the relative path); none is no error here (a folder a
    /// recorder is filling, `thud-train adapt --follow`).
    public static func videos(in root: String, validationShare: Double = 0.1) throws -> [DatasetClip] {
        guard let walker = FileManager.default.enumerator(atPath: root) else { throw DatasetError(path: root, problem: "cannot be listed") }
        let fixedSplit = try loadSplitFile(root)
        var clips: [DatasetClip] = []
        for case let relative as String in walker {
            guard videoExtensions.contains((relative as NSString).pathExtension.lowercased()) else { continue }
            let folder = (relative as NSString).deletingLastPathComponent
            let cls = folder.isEmpty ? "(none)" : (folder as NSString).lastPathComponent
            let split: DatasetSplit
            if let fixedSplit {
                // A fixed split names every clip once, by file name; a clip it does not name takes no part.
                guard let named = fixedSplit[(relative as NSString).lastPathComponent] else { continue }
                split = named
            } else {
                // FNV-1a of the relative path: a clip stays in its split however the folder grows.
                var h = FNV1a()
                h.add(relative.utf8)
                split = Double(h.value % 10_000) / 10_000 < validationShare ? .validation : .train
            }
            clips.append(DatasetClip(id: relative, path: (root as NSString).appendingPathComponent(relative), template: cls,
                                     label: cls, split: split, hitsPath: nil))
        }
        clips.sort { $0.id < $1.id }
        return clips
    }

    /// `split.tsv` at a folder's top fixes its split: lines `FILE<TAB>train|validation|test` (a header line
    /// `file<TAB>split` and `#` comments are skipped), FILE a video's name. nil when there is none.
    static func loadSplitFile(_ root: String) throws -> [String: DatasetSplit]? {
        let path = (root as NSString).appendingPathComponent("split.tsv")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw DatasetError(path: path, problem: "cannot be read as UTF-8 text")
        }
        var splits: [String: DatasetSplit] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(separator: "\t").map { $0.trimmingCharacters(in: .whitespaces) }
            if number == 0, fields.first == "file" { continue }
            guard fields.count >= 2, let split = DatasetSplit(rawValue: fields[1]) else {
                throw DatasetError(path: path, problem: "line \(number + 1) is not FILE<TAB>train|validation|test")
            }
            splits[(fields[0] as NSString).lastPathComponent] = split
        }
        return splits
    }
}

/// Which templates to train on.
public struct ClassFilter: Sendable {
    /// The twelve sound classes of the original experiment, as Something-Something's templates.
    public static let soundTemplates = [
        "Hitting [something] with [something]",
        "Throwing [something] against [something]",
        "Throwing [something] onto a surface",
        "Dropping [something] onto [something]",
        "Dropping [something] into [something]",
        "Dropping [something] behind [something]",
        "Dropping [something] in front of [something]",
        "[Something] colliding with [something] and both are being deflected",
        "[Something] being deflected from [something]",
        "[Something] colliding with [something] and both come to a halt",
        "Poking a stack of [something] so the stack collapses",
        "Moving [something] and [something] so they collide with each other",
    ]

    /// nil: every class.
    public var templates: Set<String>?
    public var description: String

    /// `sound` (the default preset), `all`, a comma-separated list of templates, or a file with one per line.
    public static func parse(_ spec: String) throws -> ClassFilter {
        switch spec {
        case "sound": return ClassFilter(templates: Set(soundTemplates.map(normalise)), description: "the 12 sound classes")
        case "all": return ClassFilter(templates: nil, description: "all classes")
        default:
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: spec, isDirectory: &isDir), !isDir.boolValue {
                let text = try String(contentsOfFile: spec, encoding: .utf8)
                let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
                return ClassFilter(templates: Set(lines.map(normalise)), description: "\(lines.count) classes from \(spec)")
            }
            let items = spec.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            return ClassFilter(templates: Set(items.map(normalise)), description: "\(items.count) classes")
        }
    }

    /// Templates compare without brackets or case: SS v2's labels.json writes "Hitting something with
    /// something" while its annotations write "Hitting [something] with [something]".
    public static func normalise(_ template: String) -> String {
        template.lowercased().replacingOccurrences(of: "[", with: "").replacingOccurrences(of: "]", with: "")
            .split(separator: " ").joined(separator: " ")
    }

    public func accepts(_ clip: DatasetClip) -> Bool {
        guard let templates else { return true }
        return templates.contains(Self.normalise(clip.template))
    }
}

/// The generator's ground truth (DIR/hits/<id>.json) as the hit steps a detector can be asked to find.
public enum GroundTruthHits {
    /// Hits closer together than this many steps cannot be told apart at 12 Hz (the peak picker keeps
    /// hits at least 3 steps apart), so a run of them counts as one hit, at its strongest member's step.
    public static let mergeWithinSteps = 3

    /// Which of the generator's impacts are hits to find.
    public enum HitSet: String, Sendable, CaseIterable {
        /// Every impact of the scene's bodies, seen or hidden behind another object ("Dropping something behind
        /// something" is a sound class: its landing is heard, not seen). Off-screen knocks and the camera's click
        /// are not in the list: no visible action makes them.
        case scene
        /// Only the impacts in view (the rule before 2026-11-30).
        case visible
    }

    public static func rule(_ set: HitSet) -> String {
        let which = set == .scene ? "the scene's impacts, in view or hidden behind another object (not the off-screen knocks or the camera's click)"
            : "the generator's visible impacts"
        return "true hits are \(which), each at the step whose 1/12 s window holds its contact time; impacts less than 3 steps apart count as one, at the strongest"
    }

    public static var rule: String { rule(.scene) }

    struct File: Decodable {
        struct Hit: Decodable { var time: Double; var strength: Double?; var visible: Bool? }
        var hits: [Hit]
    }

    /// Longest clip time a hit list may name: a clip's hits lie within hours, and ⌊12·t⌋ must be an Int.
    public static let maximumSeconds = 1e6

    /// Why a clip's hit list cannot be used (the clip is skipped with this line, never trusted or crashed on).
    public struct ReadError: Error, CustomStringConvertible {
        public let path: String
        public let problem: String
        public var description: String { "\(path): \(problem)" }
    }

    /// nil when the clip has no ground-truth file; throws ReadError when it cannot be read, is not the expected JSON,
    /// or holds a time or strength that is not a finite number in range (0...maximumSeconds for times).
    public static func steps(for clip: DatasetClip, set: HitSet = .scene) throws -> [Int]? {
        guard let path = clip.hitsPath, FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else { throw ReadError(path: path, problem: "cannot be read") }
        let file: File
        do { file = try JSONDecoder().decode(File.self, from: data) } catch {
            throw ReadError(path: path, problem: "hit list cannot be read (want {\"hits\": [{\"time\": s, \"visible\": bool}]})")
        }
        for hit in file.hits {
            guard hit.time.isFinite, (0...maximumSeconds).contains(hit.time) else {
                throw ReadError(path: path, problem: "hit time \(hit.time) is out of range (0...\(Int(maximumSeconds)) s)")
            }
            guard hit.strength.map(\.isFinite) ?? true else { throw ReadError(path: path, problem: "hit strength is not a finite number") }
        }
        let kept = set == .scene ? file.hits : file.hits.filter { $0.visible ?? true }
        return steps(kept.map { (time: $0.time, strength: $0.strength ?? 1) })
    }

    public static func steps(_ hits: [(time: Double, strength: Double)]) -> [Int] {
        // Times outside 0...maximumSeconds name no step of any clip (and would not fit an Int): left out.
        let sorted = hits.filter { $0.time.isFinite && (0...maximumSeconds).contains($0.time) }
            .map { (step: StepRate.step(atTime: $0.time), strength: $0.strength.isFinite ? $0.strength : 0) }.sorted { $0.step < $1.step }
        var out: [Int] = []
        var cluster: (last: Int, best: Int, strength: Double)?
        for h in sorted {
            if let c = cluster, h.step - c.last < mergeWithinSteps {
                cluster = (h.step, h.strength > c.strength ? h.step : c.best, max(h.strength, c.strength))
            } else {
                if let c = cluster { out.append(c.best) }
                cluster = (h.step, h.step, h.strength)
            }
        }
        if let c = cluster { out.append(c.best) }
        return out
    }
}

extension Dataset {
    /// Several datasets used as one: their clips in the order given, each keeping its own split. Roots are
    /// joined with " + " for the log; the layout is the first's (a folder's clips and an annotated corpus's
    /// mix fine: every clip already carries its split and class). Clip ids may repeat across parts (two
    /// generated corpora both start at 1): nothing downstream keys on the id, the cache keys on the file.
    public init(combining parts: [Dataset]) {
        precondition(!parts.isEmpty, "combining no datasets")
        root = parts.map(\.root).joined(separator: " + ")
        layout = parts[0].layout
        clips = parts.enumerated().flatMap { index, part in
            part.clips.map { clip in
                var clip = clip
                clip.source = index
                return clip
            }
        }
    }
}

extension DatasetError: OneLineError {
    public var message: String { description }
}
