import ArgumentParser
import Foundation
import ThudCommandLine
import ThudEval
import ThudMedia
import ThudTrain

struct AugmentSheetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment-sheet",
        abstract: "Draw what --augment does to a clip: a contact sheet, one row per augmentation.",
        discussion: "Decodes the clip's first steps at the model's frame size, as training sees them, then draws a row of consecutive steps as they come, one row for each augmentation alone at full strength (crop and zoom, aspect, rotation, shake, brightness, contrast, gamma, blur, noise, blockiness, dropped frames), and rows of whole draws at --strength as training makes them (seed 1, epoch 1, windows 0, 1, …).")

    @Argument(help: "A video file.")
    var clip: String

    @Option(help: "Where the PNG is written.")
    var out = "augment_sheet.png"

    @Option(help: "Frame size, WxH (the model's).")
    var size = "96x96"

    @Option(help: "Steps per row.")
    var steps = 6

    @Option(help: "The strength of the whole draws (as --augment).")
    var strength: Float = 1

    @Option(help: "Rows of whole draws.")
    var draws = 3

    func validate() throws {
        guard (1...24).contains(steps) else { throw ValidationError("--steps must be within 1 and 24") }
        guard (0...12).contains(draws) else { throw ValidationError("--draws must be within 0 and 12") }
        guard strength.isFinite, (0...1).contains(strength) else { throw ValidationError("--strength must be within 0 and 1") }
        _ = try parseFrameSize(size, option: "--size")
    }

    func run() throws {
        let (w, h) = try parseFrameSize(size, option: "--size")
        var frames: [UInt8] = []
        do {
            let input = try MediaInput(path: clip)
            _ = try input.decode(video: VideoStepRequest(width: w, height: h), audio: false, onStep: { step in
                frames.append(contentsOf: step.pixels)
                return frames.count < steps * w * h
            })
        } catch {
            throw exitWith(error, console: Console())
        }
        let count = frames.count / (w * h)
        guard count >= 1 else {
            fputs("thud-train: \(clip): no frames decode\n", stderr)
            throw ExitStatus.corrupt.exitCode
        }
        var rows: [(String, [UInt8])] = [("as decoded", frames)]
        for (name, a) in WindowAugmentation.eachAlone {
            var f = frames
            a.apply(frames: &f, count: count, width: w, height: h)
            rows.append((name, f))
        }
        for k in 0..<draws {
            var f = frames
            WindowAugmentation.draw(AugmentationSettings(strength: strength), seed: 1, epoch: 1, window: k)
                .apply(frames: &f, count: count, width: w, height: h)
            rows.append((String(format: "a draw at %.2g, window %d", strength, k), f))
        }
        let label = 200, gap = 4, rowHeight = h + gap
        let canvas = RenderCanvas(width: label + count * (w + gap), height: 8 + rows.count * rowHeight, background: RGBColor(hex: 0x202225))
        var rgb = [UInt8](repeating: 0, count: w * h * 3)
        for (r, (name, pixels)) in rows.enumerated() {
            let y = 4 + r * rowHeight
            _ = canvas.text(name.uppercased(), x: 6, y: y + h / 2 - 4, color: RGBColor(hex: 0xE8E8E8))
            for t in 0..<count {
                for i in 0..<(w * h) { let v = pixels[t * w * h + i]; rgb[3 * i] = v; rgb[3 * i + 1] = v; rgb[3 * i + 2] = v }
                rgb.withUnsafeBufferPointer { canvas.blit(rgb: $0, width: w, height: h, bytesPerRow: w * 3, x: label + t * (w + gap), y: y) }
            }
        }
        do {
            try canvas.writePNG(to: out)
        } catch {
            fputs("thud-train: \(out): cannot be written (\(error))\n", stderr)
            throw ExitStatus.cannotWrite.exitCode
        }
        print("wrote \(out): \(rows.count) rows of \(count) steps at \(w)x\(h)")
    }
}
