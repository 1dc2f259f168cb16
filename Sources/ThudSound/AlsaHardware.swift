import CALSA
import Glibc

/// The hardware side of an ALSA PCM, negotiated the one way the sink and the capture both want it: interleaved S16,
/// the channels and rate nearest to those asked, a period and a buffer in frames (asked in frames so the buffer can be
/// an exact multiple of the period), then what the device actually granted, which is all the caller uses afterwards.
struct AlsaHardware {
    var sampleRate: Int
    var channels: Int
    var periodFrames: Int
    var bufferFrames: Int

    /// `what` names the direction in the message when the device offers no configuration at all ("capture",
    /// "playback"); `period` and `buffer` give the frames to ask for at the granted rate (and, for the buffer, period).
    /// Errors are made by `fail` (which closes the PCM).
    static func negotiate(_ pcm: OpaquePointer, direction what: String, channels: Int, sampleRate: Int,
                          period: (_ rate: Int) -> Int, buffer: (_ rate: Int, _ period: Int) -> Int,
                          fail: (String, Int32) -> SoundError) throws -> AlsaHardware {
        guard let hw = thud_hw_params_new() else { throw fail("out of memory for hw params", -ENOMEM) }
        defer { snd_pcm_hw_params_free(hw) }
        var err = snd_pcm_hw_params_any(pcm, hw)
        if err < 0 { throw fail("no \(what) configuration", err) }
        err = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)
        if err < 0 { throw fail("interleaved access not supported", err) }
        err = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)
        if err < 0 { throw fail("S16_LE not supported", err) }
        var ch = UInt32(max(1, channels))
        err = snd_pcm_hw_params_set_channels_near(pcm, hw, &ch)
        if err < 0 { throw fail("cannot set channels", err) }
        var rate = UInt32(sampleRate)
        var dir: Int32 = 0
        err = snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, &dir)
        if err < 0 { throw fail("cannot set rate \(sampleRate)", err) }
        var periodAsked = snd_pcm_uframes_t(period(Int(rate)))
        dir = 0
        err = snd_pcm_hw_params_set_period_size_near(pcm, hw, &periodAsked, &dir)
        if err < 0 { throw fail("cannot set period size", err) }
        var bufferAsked = snd_pcm_uframes_t(buffer(Int(rate), Int(periodAsked)))
        err = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &bufferAsked)
        if err < 0 { throw fail("cannot set buffer size", err) }
        err = snd_pcm_hw_params(pcm, hw)
        if err < 0 { throw fail("hw params rejected", err) }

        var gotRate: UInt32 = 0, gotChannels: UInt32 = 0
        var gotPeriod: snd_pcm_uframes_t = 0, gotBuffer: snd_pcm_uframes_t = 0
        dir = 0
        snd_pcm_hw_params_get_rate(hw, &gotRate, &dir)
        snd_pcm_hw_params_get_channels(hw, &gotChannels)
        dir = 0
        snd_pcm_hw_params_get_period_size(hw, &gotPeriod, &dir)
        snd_pcm_hw_params_get_buffer_size(hw, &gotBuffer)
        return AlsaHardware(sampleRate: Int(gotRate), channels: Int(gotChannels),
                            periodFrames: Int(gotPeriod), bufferFrames: Int(gotBuffer))
    }
}
