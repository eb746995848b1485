import Foundation
import Testing

/// `../shared` next to the package: test data and tools that CI always has and a user's clone does
/// not. Tests that need it are `.enabled(if: SharedData.has(…), SharedData.reason(…))`, so they show
/// as skipped, with the reason, rather than passing. `CARELEDGER_SHARED` points elsewhere (e.g.
/// `CARELEDGER_SHARED=/nonexistent swift test` runs as a clone without it would).
/// (Each test target has its own copy of this file: test targets cannot share code.)
enum SharedData {
    /// The package root: two levels above this file's folder.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let directory: URL = ProcessInfo.processInfo.environment["CARELEDGER_SHARED"].map { URL(fileURLWithPath: $0) }
        ?? packageRoot.deletingLastPathComponent().appendingPathComponent("shared")

    /// A path inside the shared directory, e.g. `data/synthea`.
    static func url(_ relative: String) -> URL { directory.appendingPathComponent(relative) }

    /// True if every path exists.
    static func has(_ relatives: String...) -> Bool { relatives.allSatisfy { FileManager.default.fileExists(atPath: url($0).path) } }

    /// Why a test that needs `relatives` is skipped.
    static func reason(_ relatives: String...) -> Comment {
        Comment(rawValue: "needs \(relatives.map { "../shared/\($0)" }.joined(separator: " and ")), not found under \(directory.path) (CI always has it)")
    }
}
