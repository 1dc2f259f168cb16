/// Thud's one step rate. The model sees exactly 12 frames a second and says one envelope value per frame, so every
/// clock, target, chart, cache entry and hit time lives on this grid. It is a constant, not a setting: a model file
/// that says another rate is refused when it is read (ModelFile), because nothing else in Thud could honour it.
public enum StepRate {
    /// Steps per second.
    public static let perSecond = 12
    /// The same, for arithmetic in seconds.
    public static let hz = Double(perSecond)

    /// When step k stands, in seconds from the start of the input.
    @inlinable public static func time(ofStep k: Int) -> Double { Double(k) / hz }
    /// The step a time falls in (the latest step standing at or before it).
    @inlinable public static func step(atTime seconds: Double) -> Int { Int((seconds * hz).rounded(.down)) }
    /// How many steps cover `seconds` (a partial last step counts).
    @inlinable public static func steps(covering seconds: Double) -> Int { Int((seconds * hz).rounded(.up)) }
    /// Audio samples from the start to where step k stands, at `sampleRate` (exact integer division).
    @inlinable public static func sample(atStep k: Int, sampleRate: Int) -> Int { k * sampleRate / perSecond }
}
