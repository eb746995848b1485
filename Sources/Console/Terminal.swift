import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Terminal output for the command line, the demo and the benches: stdout for results, stderr for progress. Swift 6: flush with `fflush(nil)`.
public enum Terminal {
    public static let stderrIsTTY = isatty(STDERR_FILENO) == 1

    public static func line(_ text: String = "") {
        print(text)
        fflush(nil)
    }

    /// Asks for the key passphrase on the terminal, without echo; twice when a new one is being set.
    @Sendable public static func askPassphrase(confirm: Bool) -> String? {
        guard let first = getpass("Key passphrase: ").map({ String(cString: $0) }), !first.isEmpty else { return nil }
        guard confirm else { return first }
        guard let second = getpass("Repeat the passphrase: ").map({ String(cString: $0) }), second == first else {
            error("the passphrases differ")
            return nil
        }
        return first
    }

    public static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Pretty, key-sorted JSON on stdout.
    public static func json(_ value: Any) {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])) ?? Data("{}".utf8)
        line(String(decoding: data, as: UTF8.self))
    }
}

/// A one-line progress bar on stderr (only when stderr is a terminal, so logs stay clean).
public struct ProgressBar {
    public let label: String
    public let total: UInt64
    private var lastDrawn = -1
    private let enabled: Bool

    public init(_ label: String, total: UInt64, enabled: Bool = Terminal.stderrIsTTY) {
        self.label = label
        self.total = max(total, 1)
        self.enabled = enabled
    }

    public mutating func update(_ done: UInt64) {
        guard enabled else { return }
        let percent = Int(min(done, total) * 100 / total)
        guard percent != lastDrawn else { return }
        lastDrawn = percent
        let width = 30
        let filled = width * percent / 100
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write(Data("\r  \(label) \(bar) \(percent)% (\(done)/\(total))".utf8))
    }

    public func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}

/// Formats counts with thousands separators.
public func grouped(_ value: some BinaryInteger) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, char) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(char)
    }
    return (value < 0 ? "-" : "") + out
}

/// Formats a Double with fixed decimals.
public func fixed(_ value: Double, _ decimals: Int = 1) -> String { String(format: "%.\(decimals)f", value) }


/// Percentile of sorted values.
public func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

/// An ISO 8601 UTC time for display.
public func isoTime(_ ms: Int64) -> String {
    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}
