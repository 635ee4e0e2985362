import Foundation

/// A one-line progress display on a terminal: done/total, rate and ETA, redrawn at most a few
/// times a second. Silent when stderr is not a terminal (logs and CI stay clean).
public final class ProgressLine {
    private let label: String
    private let total: Int
    private let enabled: Bool
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var drew = false

    /// `totalBytes`: the input's size, for a percentage and ETA (0 when unknown).
    public init(label: String, totalBytes: Int = 0, enabled: Bool) {
        self.label = label
        self.total = totalBytes
        self.enabled = enabled
    }

    /// Progress counted in items (merges, steps, examples) rather than bytes: done/total, rate and ETA.
    public func update(done items: Int, of total: Int) {
        guard enabled else { return }
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.25 else { return }
        lastDraw = now
        let elapsed = max(1e-6, now.timeIntervalSince(start))
        let rate = Double(items) / elapsed
        var line = "\(label): \(items)/\(total)"
        if rate > 0 && items < total { line += " ETA \(Self.formatDuration(Double(total - items) / rate))" }
        line += String(format: ", %.0f/s, %@", rate, Self.formatDuration(elapsed))
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        drew = true
    }

    /// Progress counted in bytes read (with `items` documents so far).
    public func update(bytes: Int, items: Int, force: Bool = false) {
        update(bytes: bytes, of: total, items: items, noun: "docs", force: force)
    }

    /// Progress counted in bytes of `total` (0: unknown), with `items` of what `noun` names so far.
    public func update(bytes: Int, of total: Int, items: Int, noun: String, force: Bool = false) {
        guard enabled else { return }
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.25 else { return }
        lastDraw = now
        let elapsed = max(1e-6, now.timeIntervalSince(start))
        let rate = Double(bytes) / elapsed
        var line = "\(label): \(Self.formatBytes(bytes))"
        if total > 0 {
            let fraction = min(1, Double(bytes) / Double(total))
            line += "/\(Self.formatBytes(total)) \(String(format: "%3.0f%%", fraction * 100))"
            if rate > 0 && bytes < total {
                line += " ETA \(Self.formatDuration(Double(total - bytes) / rate))"
            }
        }
        line += ", \(Self.formatBytes(Int(rate)))/s, \(items) \(noun), \(Self.formatDuration(elapsed))"
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + line).utf8))
        drew = true
    }

    public func finish() {
        guard enabled && drew else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }

    public static func formatBytes(_ n: Int) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(n)
        var unit = 0
        while value >= 1000 && unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
    }

    public static func formatDuration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s < 60 { return String(format: "%.1fs", seconds) }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}
