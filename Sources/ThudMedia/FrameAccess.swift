import CFFmpeg

/// AVFrame's `data` and `linesize` are fixed-size C arrays, which Swift imports as tuples.
/// These two accessors give them as pointers, so that swscale and sample conversion can index planes.
@inline(__always)
func framePlanes(_ frame: UnsafeMutablePointer<AVFrame>) -> UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?> {
    UnsafeMutableRawPointer(frame).advanced(by: MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!)
        .assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self)
}

@inline(__always)
func frameStrides(_ frame: UnsafeMutablePointer<AVFrame>) -> UnsafeMutablePointer<Int32> {
    UnsafeMutableRawPointer(frame).advanced(by: MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!)
        .assumingMemoryBound(to: Int32.self)
}
