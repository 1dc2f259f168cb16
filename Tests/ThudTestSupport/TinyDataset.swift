import Foundation
import ThudMedia

/// A small dataset in Something-Something's layout made of frame-counter clips with clicks, plus
/// deliberately faulty ones, for the training and evaluation tests.
public enum TinyDataset {
    public struct Made {
        public var root: String
        /// Usable clips per split of the sound classes, and faulty ones, as written.
        public var usable: [String: Int]
        public var faulty: [String: Int]
    }

    public static let soundTemplate = "Dropping [something] onto [something]"
    public static let silentTemplate = "Pushing [something] from left to right"

    /// Per split: `good` usable sound-class clips, one silent-template clip (filtered out by the class
    /// filter), and for train also one without audio, one with garbled audio and one truncated.
    @discardableResult
    public static func write(root: String, good: [String: Int] = ["train": 4, "validation": 2, "test": 2], seconds: Double = 2.5) throws -> Made {
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/videos", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/hits", withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: [soundTemplate: "0", silentTemplate: "1"]).write(to: URL(fileURLWithPath: root + "/labels.json"))
        var made = Made(root: root, usable: [:], faulty: [:])
        var id = 100
        let fps = 25
        let times = (0..<Int(seconds * Double(fps))).map { Double($0) / Double(fps) }
        for split in ["train", "validation", "test"] {
            var entries: [[String: Any]] = []
            func add(_ template: String, fault: String?) throws {
                id += 1
                let path = "\(root)/videos/\(id).mp4"
                let clicks = [0.4 + Double(id % 5) * 0.1, 1.6 + Double(id % 3) * 0.1]
                let audio: AudioEncodeSettings? = fault == "no_audio" ? nil
                    : AudioEncodeSettings(sampleRate: 44100, channels: 1, garblePackets: fault == "corrupt_audio")
                try FrameCounterClip.write(path: path, times: times, width: 96, height: 64, nominalFrameRate: Double(fps),
                                           audio: audio, clicks: clicks, audioSeconds: seconds)
                if fault == "truncated" {
                    let data = try Data(contentsOf: URL(fileURLWithPath: path))
                    try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
                }
                let hits: [[String: Any]] = clicks.map { ["time": $0, "strength": 0.8, "visible": true] }
                try JSONSerialization.data(withJSONObject: ["id": "\(id)", "hits": hits]).write(to: URL(fileURLWithPath: "\(root)/hits/\(id).json"))
                let filled = template.replacingOccurrences(of: "[something]", with: "a box")
                entries.append(["id": "\(id)", "label": filled, "template": template, "placeholders": ["a box", "a box"]])
            }
            for _ in 0..<(good[split] ?? 0) { try add(soundTemplate, fault: nil) }
            made.usable[split] = good[split] ?? 0
            try add(silentTemplate, fault: nil)
            if split == "train" {
                for f in ["no_audio", "corrupt_audio", "truncated"] { try add(soundTemplate, fault: f) }
                made.faulty[split] = 3
            }
            try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: "\(root)/\(split).json"))
        }
        return made
    }
}
