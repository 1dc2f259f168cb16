import ArgumentParser
import Foundation
import ThudRuntime

/// `--learn DIR` and its settings, shared by live, watch and predict (a network stream or a camera).
public struct LearnOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Learn each feed's own scene while it runs: record its video and sound into rolling segments in DIR/NAME (one folder per feed), run a learner (thud-train adapt --follow, niced) on them, and swap in the model it writes (DIR/NAME/model.thud) between two steps. Without --model, a feed starts from the model it learned before.", valueName: "DIR"))
    public var learn: String?

    @Option(parsing: .unconditional, help: "Disk budget for each feed's segments, in MB (the oldest are deleted first).")
    public var learnBudget = 300

    @Option(parsing: .unconditional, help: "Length of a recorded segment, seconds (the learner judges each round on the newest).")
    public var learnSegmentSeconds = 20.0

    @Option(parsing: .unconditional, help: "New recorded seconds that start another round of learning (thud-train adapt --follow --every).")
    public var learnEvery = 60.0

    @Flag(help: "Record the segments only; learn with your own `thud-train adapt --follow DIR/NAME` (or none).")
    public var learnRecordOnly = false

    @Option(name: .customLong("learner-option"), parsing: .unconditionalSingleValue,
            help: ArgumentHelp("An argument passed on to the learner, thud-train adapt --follow (repeat it: --learner-option --min-seconds --learner-option 20).", valueName: "ARG"))
    public var learnerOptions: [String] = []

    // Not --audio-device: that is where --sonify plays (the speakers), and a microphone is another device.
    @Option(help: "A camera's microphone for --learn: an ALSA capture PCM (default, hw:1,0, plughw:CARD=Mic), as thud record's --audio-device.")
    public var microphone = "default"

    public init() {}

    public func validate() throws {
        guard learnBudget >= 1, learnBudget <= 10_000_000 else { throw ValidationError("--learn-budget must be MB within 1…10000000") }
        guard learnSegmentSeconds.isFinite, learnSegmentSeconds >= 1, learnSegmentSeconds <= 3600 else { throw ValidationError("--learn-segment-seconds must be within 1 and 3600") }
        guard learnEvery.isFinite, learnEvery >= 1 else { throw ValidationError("--learn-every must be at least 1 second") }
    }

    /// The settings, nil without --learn; `baseModel`: the learner's starting weights.
    public func settings(baseModel: String) -> LearnSettings? {
        guard let learn else { return nil }
        var s = LearnSettings(directory: learn, baseModel: baseModel)
        s.budgetBytes = Int64(learnBudget) * 1_000_000
        s.segmentSeconds = learnSegmentSeconds
        s.audio.device = microphone
        s.startsLearner = !learnRecordOnly
        s.learnerArguments = ["--every", String(learnEvery)] + learnerOptions
        return s
    }
}
