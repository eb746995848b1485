import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Terminal output: stdout for results, stderr for progress. Swift 6: flush with `fflush(nil)`.
enum Terminal {
    static let stderrIsTTY = isatty(STDERR_FILENO) == 1

    static func line(_ text: String = "") {
        print(text)
        fflush(nil)
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Pretty, key-sorted JSON on stdout.
    static func json(_ value: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
        line(String(decoding: data, as: UTF8.self))
    }
}

/// A one-line progress bar on stderr (only when stderr is a terminal, so logs stay clean).
struct ProgressBar {
    let label: String
    let total: UInt64
    private var lastDrawn = -1
    private let enabled: Bool

    init(_ label: String, total: UInt64, enabled: Bool = Terminal.stderrIsTTY) {
        self.label = label
        self.total = max(total, 1)
        self.enabled = enabled
    }

    mutating func update(_ done: UInt64) {
        guard enabled else { return }
        let percent = Int(min(done, total) * 100 / total)
        guard percent != lastDrawn else { return }
        lastDrawn = percent
        let width = 30
        let filled = width * percent / 100
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r  \(label) \(bar) \(percent)% (\(done)/\(total))".utf8))
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}

/// Formats counts with thousands separators.
func grouped(_ value: some BinaryInteger) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, char) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(char)
    }
    return (value < 0 ? "-" : "") + out
}

/// Formats a Double with fixed decimals.
func fixed(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }
