import XCTest
@testable import ThudEval
import ThudMedia
import ThudModel
import ThudTestSupport

/// The rasteriser, the PNG path, the strip, the knock, and `ClipRenderer` end to end in-process: the output
/// is decoded back with MediaInput to check frame count, duration, pictures and audio.
final class RenderTests: XCTestCase {
    static let dir = TemporaryDirectory("render")
    override class func tearDown() { dir.cleanup(); super.tearDown() }

    // MARK: Rasteriser

    func testFillRectIsClippedAndBlendMixes() {
        let c = RenderCanvas(width: 10, height: 8, background: .black)
        c.fillRect(x: -5, y: 6, width: 8, height: 10, color: .white)
        XCTAssertEqual(c.pixel(0, 7), .white)
        XCTAssertEqual(c.pixel(2, 6), .white)
        XCTAssertEqual(c.pixel(3, 6), .black)
        XCTAssertEqual(c.pixel(0, 5), .black)
        c.blendRect(x: 5, y: 0, width: 1, height: 1, color: RGBColor(200, 100, 0), alpha: 0.5)
        XCTAssertEqual(c.pixel(5, 0), RGBColor(100, 50, 0))
    }

    func testLineHitsBothEndsAndStaysOnTheDiagonal() {
        let c = RenderCanvas(width: 20, height: 20, background: .black)
        c.line(2, 3, 12, 13, color: .white)
        for i in 0...10 { XCTAssertEqual(c.pixel(2 + i, 3 + i), .white) }
        var lit = 0
        for y in 0..<20 { for x in 0..<20 where c.pixel(x, y) == .white { lit += 1 } }
        XCTAssertEqual(lit, 11)
    }

    func testTextDrawsTheGlyphsAndSDiffersFrom5() {
        let c = RenderCanvas(width: 40, height: 10, background: .black)
        let end = c.text("1", x: 0, y: 0, color: .white)
        XCTAssertEqual(end, BitmapFont.advance)
        // "1": ..#.. / .##.. / ..#.. ×4 / .###.
        XCTAssertEqual(c.pixel(2, 0), .white)
        XCTAssertEqual(c.pixel(0, 0), .black)
        XCTAssertEqual(c.pixel(1, 1), .white)
        XCTAssertEqual(c.pixel(1, 6), .white); XCTAssertEqual(c.pixel(3, 6), .white)
        XCTAssertEqual(BitmapFont.width(of: "ABC"), 17)
        XCTAssertEqual(BitmapFont.width(of: "ABC", scale: 2), 34)
        func bits(_ s: Unicode.Scalar) -> [UInt8] { withUnsafeBytes(of: BitmapFont.rows(of: s)) { Array($0) } }
        XCTAssertNotEqual(bits("S"), bits("5"))
        XCTAssertEqual(bits("a"), bits("A"), "lowercase is drawn in capitals")
        XCTAssertEqual(bits("\u{1F600}"), bits("?"))
        for ch in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ.,:-+=()[]/%<>" {
            XCTAssertNotEqual(bits(ch.unicodeScalars.first!), bits("?"), "no glyph for \(ch)")
        }
    }

    func testPNGWritesAndDecodesBack() throws {
        let c = RenderCanvas(width: 64, height: 32, background: RGBColor(10, 200, 30))
        c.fillRect(x: 32, y: 0, width: 32, height: 32, color: RGBColor(250, 20, 40))
        let path = Self.dir.path("canvas.png")
        try c.writePNG(to: path)
        let head = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(8)
        XCTAssertEqual(Array(head), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let input = try MediaInput(path: path)
        XCTAssertEqual(input.info.video?.width, 64)
        XCTAssertEqual(input.info.video?.height, 32)
        var left: [UInt8] = [], right: [UInt8] = []
        _ = try input.decode(video: VideoStepRequest(width: 64, height: 32, pixelFormat: .rgb24), audio: false, onStep: { step in
            left = Array(step.pixels[(16 * 64 + 8) * 3..<(16 * 64 + 8) * 3 + 3])
            right = Array(step.pixels[(16 * 64 + 48) * 3..<(16 * 64 + 48) * 3 + 3])
            return false
        })
        XCTAssertEqual(left, [10, 200, 30], "PNG is lossless")
        XCTAssertEqual(right, [250, 20, 40])
        XCTAssertEqual(try c.pngData().prefix(4), Data([0x89, 0x50, 0x4E, 0x47]))
    }

    // MARK: Strip and knock

    func testStripShowsDetectedHitsOnlyFromTheirDetectionStepAndFlashes() throws {
        var a = RenderAnalysis()
        a.predicted = (0..<48).map { $0 == 20 ? 0.9 : 0.1 }
        a.target = (0..<48).map { $0 == 19 ? 1 : 0 }
        a.hits = [HitEvent(step: 20, time: 20.0 / 12, strength: 0.9)]
        let options = RenderOptions(output: "unused.mp4")
        let strip = StripRenderer(width: 320, top: 0, height: 120, analysis: a, options: options)
        let c = RenderCanvas(width: 320, height: 120)
        func redColumns() -> Int {
            var n = 0
            for x in 0..<320 where c.pixel(x, 60) == ChartPalette.predictedHit { n += 1 }
            return n
        }
        strip.draw(on: c, step: 20)    // the peak: not yet known to be one
        XCTAssertEqual(redColumns(), 0)
        let calm = c.pixel(4, 110)
        strip.draw(on: c, step: 21)    // reported: marker at the peak, strip flashes
        XCTAssertEqual(redColumns(), 1)
        let flash = c.pixel(4, 110)
        XCTAssertGreaterThan(Int(flash.r), Int(calm.r) + 20)
        if let keep = ProcessInfo.processInfo.environment["THUD_EVAL_KEEP"] { try c.writePNG(to: keep + "/strip-flash.png") }
        strip.draw(on: c, step: 30)    // still marked, flash over
        XCTAssertEqual(redColumns(), 1)
        XCTAssertEqual(c.pixel(4, 110), calm)
    }

    func testKnockIsShortDecayingAndMixedAtItsTime() {
        let k = PlaceholderKnock.modalKnock(sampleRate: 44100, strength: 0.5)
        XCTAssertEqual(k.count, Int(PlaceholderKnock.seconds * 44100))
        XCTAssertEqual(Double(k.map(abs).max()!), 0.5, accuracy: 1e-6)
        let early = k[0..<2205].map(abs).max()!, late = k[(k.count - 2205)...].map(abs).max()!
        XCTAssertLessThan(late, early * 0.05)
        var track = [Float](repeating: 0, count: 44100)
        PlaceholderKnock.mix(into: &track, sampleRate: 44100, hits: [(time: 0.5, strength: 1)])
        XCTAssertEqual(track[..<22050].map(abs).max(), 0)
        XCTAssertGreaterThan(track[22050..<23000].map(abs).max()!, 0.3)
        XCTAssertTrue(track.allSatisfy { (-1...1).contains($0) })
        // Any knock can be mixed in (thud render passes ThudSound's voice), and the sum is clamped.
        var loud = [Float](repeating: 0.9, count: 1000)
        PlaceholderKnock.mix(into: &loud, sampleRate: 1000, hits: [(time: 0.5, strength: 1)], knock: { rate, strength in
            XCTAssertEqual(rate, 1000); XCTAssertEqual(strength, 1)
            return [0.5, 0.5]
        })
        XCTAssertEqual(Array(loud[499...502]), [0.9, 1, 1, 0.9])
    }

    // MARK: The whole render

    static let clip: String = {
        let path = dir.path("clip.mp4")
        // 3 s at 25 fps, 192×128, mono audio with clicks at 0.5 and 2 s.
        try! FrameCounterClip.write(path: path, times: FrameCounterClip.times(fpsNumerator: 25, seconds: 3), width: 192, height: 128,
                                    nominalFrameRate: 25, audio: AudioEncodeSettings(sampleRate: 44100, channels: 1), clicks: [0.5, 2], audioSeconds: 3)
        return path
    }()

    func testRenderedVideoHasOneFramePerStepTheClipsPicturesAndItsAudio() throws {
        let model = try StreamingModel(file: ModelFile.random(architecture: .default, seed: 3))
        let out = Self.dir.path("render.mp4"), gif = Self.dir.path("render.gif")
        var options = RenderOptions(output: out, gifOutput: gif)
        options.gifMaxWidth = 300   // so the GIF takes the half-size path: picture 160×106, its own 80-pixel strip
        let summary = try ClipRenderer.render(clip: Self.clip, model: model, options: options)
        XCTAssertEqual(summary.frames, 36)
        // 192 wide is below the 320 minimum: scaled up, height kept in proportion (320·128/192 = 213.3 → 214), plus the strip.
        XCTAssertEqual(summary.width, 320)
        XCTAssertEqual(summary.height, 214 + 120)
        XCTAssertTrue(summary.hasAudio)

        let input = try MediaInput(path: out)
        XCTAssertEqual(input.info.video?.width, 320)
        XCTAssertEqual(input.info.video?.height, 334)
        XCTAssertNotNil(input.info.audio)
        XCTAssertEqual(input.info.durationSeconds ?? 0, 3, accuracy: 0.1)
        var numbers: [Int] = []
        let decoded = try input.decode(video: VideoStepRequest(width: 320, height: 334), audio: true, onStep: { step in
            // The picture sits on top: read the frame counter's bars from its middle row.
            var n = 0
            for bit in 0..<FrameCounterClip.bits {
                let x = (bit * 320 + 160) / FrameCounterClip.bits
                n = (n << 1) | (step.pixels[107 * 320 + x] > 128 ? 1 : 0)
            }
            numbers.append(n)
            return true
        })
        XCTAssertEqual(decoded.steps, 36)
        // Step k shows the latest source frame at or before k/12 s: frame ⌊25k/12⌋.
        XCTAssertEqual(numbers, (0..<36).map { 25 * $0 / 12 })
        let audio = try XCTUnwrap(decoded.audio)
        XCTAssertEqual(audio.sampleRate, 44100)
        XCTAssertEqual(Double(audio.samples.count) / 44100, 3, accuracy: 0.05)
        // The clicks are still where they were.
        let envelope = AudioEnvelope(samples: audio.samples, sampleRate: audio.sampleRate)
        XCTAssertEqual(EnvelopePeakRule().peaks(envelope.values), [6, 24])

        let g = try MediaInput(path: gif)
        XCTAssertEqual(g.info.video?.codec, "gif")
        XCTAssertEqual(g.info.video?.width, 160)
        XCTAssertEqual(g.info.video?.height, 106 + 80)
        // GIF keeps times in 1/100 s, so count its frames rather than 12 Hz steps (8.33 cs rounds).
        XCTAssertEqual(try g.decode(video: VideoStepRequest(width: 32, height: 32), audio: false).videoFrames, 36)
    }

    func testHitsFlashInTheStripAndKnockInTheAudioFromTheStepTheyAreReported() throws {
        // Silent audio, a box appearing at 1 s and leaving at 2 s, and a model that reacts to motion: hits peak at
        // steps 12 and 24 and are reported one step later, so the flash and the knocks start at steps 13 and 25.
        let path = Self.dir.path("box-silent.mp4")
        try MotionDetectorModel.writeClip(path: path, clicks: [])
        // MP4: its edit list keeps the first frame at 0 s, so decoded steps line up with the rendered frames
        // (in Matroska the H.264 track starts 23 ms late, which shifts every decoded step by one).
        var options = RenderOptions(output: Self.dir.path("knock.mp4"), knock: true)
        // A distinctive sound (0.1 s at 0.25) shows the renderer plays the knock it is given (thud render passes ThudSound's).
        options.knockSound = { rate, _ in [Float](repeating: 0.25, count: rate / 10) }
        let summary = try ClipRenderer.render(clip: path, model: try MotionDetectorModel.model(), options: options)
        XCTAssertEqual(summary.hits.map(\.step), [12, 24])
        XCTAssertNil(summary.r, "silent audio: no target")
        if let keep = ProcessInfo.processInfo.environment["THUD_EVAL_KEEP"] {
            try? FileManager.default.removeItem(atPath: keep + "/knock.mp4")
            try FileManager.default.copyItem(atPath: options.output, toPath: keep + "/knock.mp4")
            try MotionDetectorModel.file().write(to: keep + "/motion-detector.thud")
        }

        let input = try MediaInput(path: options.output)
        let w = summary.width, h = summary.height
        var stripRed: [Double] = []
        let decoded = try input.decode(video: VideoStepRequest(width: w, height: h, pixelFormat: .rgb24), audio: true, onStep: { step in
            // Mean red minus blue over a patch of the strip's left margin (background only).
            var d = 0.0
            for y in (h - 100)..<(h - 60) { for x in 0..<6 { let o = (y * w + x) * 3; d += Double(step.pixels[o]) - Double(step.pixels[o + 2]) } }
            stripRed.append(d / 240)
            return true
        })
        XCTAssertEqual(decoded.steps, 36)
        let flashing = stripRed.indices.filter { stripRed[$0] > 25 }
        XCTAssertEqual(flashing.first, 13, "\(stripRed.map { Int($0) })")
        XCTAssertTrue(flashing.allSatisfy { (13...15).contains($0) || (25...27).contains($0) }, "\(flashing)")

        let audio = try XCTUnwrap(decoded.audio)
        let rate = Double(audio.sampleRate)
        func peak(_ from: Double, _ to: Double) -> Float {
            audio.samples[Int(from * rate)..<min(audio.samples.count, Int(to * rate))].map(abs).max() ?? 0
        }
        XCTAssertLessThan(peak(0, 13.0 / 12 - 0.01), 0.01, "nothing before the first reported hit")
        XCTAssertEqual(peak(13.0 / 12 + 0.02, 13.0 / 12 + 0.08), 0.25, accuracy: 0.08)
        XCTAssertLessThan(peak(1.5, 25.0 / 12 - 0.01), 0.01, "the first knock is over")
        XCTAssertEqual(peak(25.0 / 12 + 0.02, 25.0 / 12 + 0.08), 0.25, accuracy: 0.08)
    }

    func testBadClipThrowsAndWritesNothing() throws {
        let bad = Self.dir.path("bad.mp4")
        try Data("not a video".utf8).write(to: URL(fileURLWithPath: bad))
        let out = Self.dir.path("never.mp4")
        let model = try StreamingModel(file: ModelFile.random(architecture: .default, seed: 3))
        XCTAssertThrowsError(try ClipRenderer.render(clip: bad, model: model, options: RenderOptions(output: out))) { error in
            XCTAssertEqual((error as? MediaError)?.exitCode, 11)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
