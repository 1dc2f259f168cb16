/// Order statistics of measured figures (latencies, step times), for reports and benchmarks.
public enum Percentiles {
    /// The nearest-rank percentile of `sorted` (ascending): the value at index round(p · (n − 1)); `p` in 0...1.
    /// NaN for no values.
    public static func nearestRank(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count - 1)).rounded())))]
    }

    /// The median of `sorted` (ascending): the middle value, or the mean of the middle two. NaN for no values.
    public static func median(_ sorted: [Double]) -> Double {
        let n = sorted.count
        if n == 0 { return .nan }
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}
