import Foundation
import QuarryCore

/// The loss curve as an SVG picture: training loss (and validation loss, dots) by step.
enum LossCurve {
    static func write(_ history: [(Int, Double, Double?)], to path: String) throws {
        guard let lastStep = history.last?.0, lastStep > 0 else { return }
        let values = history.map(\.1) + history.compactMap(\.2)
        let top = values.max() ?? 1, bottom = min(values.min() ?? 0, top - 1e-6)
        let w = 640.0, h = 360.0, m = 40.0
        func x(_ step: Int) -> Double { m + (w - 2 * m) * Double(step) / Double(lastStep) }
        func y(_ v: Double) -> Double { h - m - (h - 2 * m) * (v - bottom) / (top - bottom) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        svg += "<line x1=\"\(m)\" y1=\"\(h - m)\" x2=\"\(w - m)\" y2=\"\(h - m)\" stroke=\"black\"/><line x1=\"\(m)\" y1=\"\(m)\" x2=\"\(m)\" y2=\"\(h - m)\" stroke=\"black\"/>\n"
        svg += String(format: "<text x=\"%.0f\" y=\"%.0f\">%.3f</text><text x=\"%.0f\" y=\"%.0f\">%.3f</text>\n", 2.0, m, top, 2.0, h - m, bottom)
        svg += "<text x=\"\(w - m - 60)\" y=\"\(h - 10)\">step \(lastStep)</text>\n"
        let points = history.map { String(format: "%.1f,%.1f", x($0.0), y($0.1)) }.joined(separator: " ")
        svg += "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"\(points)\"/>\n"
        for (step, _, v) in history { if let v { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#d62728\"/>\n", x(step), y(v)) } }
        svg += "<text x=\"\(w - 200)\" y=\"20\" fill=\"#1f77b4\">training loss</text><text x=\"\(w - 100)\" y=\"20\" fill=\"#d62728\">validation</text>\n</svg>\n"
        let file = try OutputFile(path: path)
        try file.write(Array(svg.utf8))
        try file.commit()
    }
}
