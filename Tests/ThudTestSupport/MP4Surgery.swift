import Foundation

/// Byte-level edits of a small MP4 (ISO-BMFF) file, to make the damaged inputs the tests need from a good clip:
/// a movie header that lies about the duration, zeroed media data, the index moved behind the data.
public enum MP4Surgery {
    /// The top-level boxes: type and the byte range of the whole box (32-bit sizes only; test clips are small).
    public static func boxes(_ data: Data) -> [(type: String, range: Range<Int>)] {
        var out: [(String, Range<Int>)] = []
        var at = 0
        let bytes = [UInt8](data)
        while at + 8 <= bytes.count {
            let size = Int(u32(bytes, at))
            guard size >= 8, at + size <= bytes.count else { break }
            out.append((String(decoding: bytes[(at + 4)..<(at + 8)], as: UTF8.self), at..<(at + size)))
            at += size
        }
        return out
    }

    /// The offsets of every occurrence of a four-letter box type (the position of its type field).
    public static func find(_ type: String, in data: Data) -> [Int] {
        let needle = Array(type.utf8), bytes = [UInt8](data)
        guard bytes.count >= 4 else { return [] }
        return (0...(bytes.count - 4)).filter { i in bytes[i] == needle[0] && bytes[i + 1] == needle[1] && bytes[i + 2] == needle[2] && bytes[i + 3] == needle[3] }
    }

    /// The movie header (mvhd, version 0) set to timescale 1 and duration 0xFFFFFFFF: 136 years.
    public static func lyingMovieHeader(_ data: Data) -> Data {
        var bytes = [UInt8](data)
        for typeAt in find("mvhd", in: data) where bytes[typeAt + 4] == 0 {
            // version+flags (4), creation (4), modification (4), timescale (4), duration (4).
            put(&bytes, typeAt + 16, 1)
            put(&bytes, typeAt + 20, 0xFFFF_FFFF)
        }
        return Data(bytes)
    }

    /// The video track's first time-to-sample entry (stts) given `delta` as its sample duration (0x7FFFFFFF: a frame
    /// that claims to last 24 days at 1/1000 s, 20 hours at 1/30000 s), its media header (mdhd, version 0) the same
    /// duration (FFmpeg takes a last sample's duration from it) and the `timescale` given, if any. The video track is
    /// the trak whose handler (hdlr) is "vide".
    public static func videoSampleDelta(_ data: Data, delta: UInt32, timescale: UInt32? = nil) -> Data {
        var bytes = [UInt8](data)
        let traks = find("trak", in: data)
        for (n, trakAt) in traks.enumerated() {
            let end = n + 1 < traks.count ? traks[n + 1] : bytes.count
            let inTrak = { (type: String) in find(type, in: data).filter { $0 > trakAt && $0 < end } }
            guard let hdlr = inTrak("hdlr").first, String(decoding: bytes[(hdlr + 12)..<(hdlr + 16)], as: UTF8.self) == "vide" else { continue }
            // stts: version+flags (4), entry count (4), then (sample count, sample delta) pairs.
            for stts in inTrak("stts") where u32(bytes, stts + 8) > 0 { put(&bytes, stts + 16, delta) }
            // mdhd version 0: version+flags (4), creation (4), modification (4), timescale (4), duration (4).
            for mdhd in inTrak("mdhd") where bytes[mdhd + 4] == 0 {
                if let timescale { put(&bytes, mdhd + 16, timescale) }
                put(&bytes, mdhd + 20, delta)
            }
        }
        return Data(bytes)
    }

    /// Every byte of the media data (mdat's payload) set to zero: the index is intact, no frame decodes.
    public static func zeroedMediaData(_ data: Data) -> Data {
        var bytes = [UInt8](data)
        for box in boxes(data) where box.type == "mdat" {
            for i in (box.range.lowerBound + 8)..<box.range.upperBound { bytes[i] = 0 }
        }
        return Data(bytes)
    }

    /// The same file with its index (moov) after its media data, as an encoder without +faststart writes it: the
    /// chunk offsets (stco) move by the index's size.
    public static func indexLast(_ data: Data) -> Data {
        let all = boxes(data)
        guard let moov = all.first(where: { $0.type == "moov" }), let mdat = all.first(where: { $0.type == "mdat" }),
              moov.range.upperBound <= mdat.range.lowerBound else { return data }
        var index = [UInt8](data[moov.range])
        for typeAt in find("stco", in: Data(index)) {
            let count = Int(u32(index, typeAt + 8))
            for k in 0..<count {
                let at = typeAt + 12 + 4 * k
                put(&index, at, u32(index, at) - UInt32(moov.range.count))
            }
        }
        var out = Data(data[..<moov.range.lowerBound])
        out.append(data[moov.range.upperBound...])
        out.append(contentsOf: index)
        return out
    }

    /// The video track's header (tkhd) given the display matrix of a picture to be shown turned `clockwise` degrees
    /// (90, 180 or 270), as a phone writes it.
    public static func rotated(_ data: Data, clockwise: Int) -> Data {
        var bytes = [UInt8](data)
        let (a, b, c, d): (UInt32, UInt32, UInt32, UInt32)
        switch clockwise {
        case 90: (a, b, c, d) = (0, 0x1_0000, 0xFFFF_0000, 0)
        case 180: (a, b, c, d) = (0xFFFF_0000, 0, 0, 0xFFFF_0000)
        default: (a, b, c, d) = (0, 0xFFFF_0000, 0x1_0000, 0)
        }
        for typeAt in find("tkhd", in: data) {
            let matrix = typeAt + (bytes[typeAt + 4] == 0 ? 44 : 56)
            guard matrix + 44 <= bytes.count, u32(bytes, matrix + 36) != 0 else { continue }   // an audio track has no width
            for (k, v) in [a, b, 0, c, d, 0, 0, 0, 0x4000_0000].enumerated() { put(&bytes, matrix + 4 * k, v) }
        }
        return Data(bytes)
    }

    static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
        UInt32(b[at]) << 24 | UInt32(b[at + 1]) << 16 | UInt32(b[at + 2]) << 8 | UInt32(b[at + 3])
    }

    static func put(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
        b[at] = UInt8(v >> 24); b[at + 1] = UInt8(v >> 16 & 0xFF); b[at + 2] = UInt8(v >> 8 & 0xFF); b[at + 3] = UInt8(v & 0xFF)
    }
}

/// JPEG frames (MJPEG in AVI) made to declare an absurd picture size in their start-of-frame headers.
public enum JPEGSurgery {
    /// Every baseline start-of-frame (FF C0, length, precision 8, height, width) set to `width`×`height`.
    public static func declaringSize(_ data: Data, width: UInt16, height: UInt16) -> Data {
        var b = [UInt8](data)
        var i = 0
        while i + 9 < b.count {
            if b[i] == 0xFF, b[i + 1] == 0xC0, b[i + 2] == 0x00, b[i + 4] == 8 {
                b[i + 5] = UInt8(height >> 8); b[i + 6] = UInt8(height & 0xFF)
                b[i + 7] = UInt8(width >> 8); b[i + 8] = UInt8(width & 0xFF)
                i += 9
            } else {
                i += 1
            }
        }
        return Data(b)
    }
}

extension Executable {
    /// Runs `name args` with stdout going to `stdoutPath` (e.g. /dev/full) instead of a pipe.
    public static func run(_ name: String, _ args: [String], stdoutPath: String, timeout: TimeInterval = 300) throws -> Result {
        try launch(name, args, timeout: timeout, stdin: .none, stdout: .file(stdoutPath))
    }

    /// Runs `name args` with `input` written into a pipe on its stdin (a real pipe, not a file: /dev/stdin is one).
    public static func run(_ name: String, _ args: [String], pipedInput input: Data, timeout: TimeInterval = 300) throws -> Result {
        try launch(name, args, timeout: timeout, stdin: .pipe(input), stdout: .collect)
    }
}
