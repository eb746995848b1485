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

    /// Runs a generator script of `scripts/` on the shared R4 package into a temporary file and
    /// says whether its output is the committed file `committed` (a path in the package).
    static func generatorReproduces(_ script: String, _ committed: String) async throws -> Bool {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("generated-\(UUID().uuidString).swift")
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        // At low priority: four of these parse the whole R4 package at the start of the run, beside
        // suites that wait on real time.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
        process.arguments = ["-n", "10", "/usr/bin/python3", packageRoot.appendingPathComponent("scripts/" + script).path, url("data/fhir-r4-core").path, output.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        await withCheckedContinuation { continuation in Thread.detachNewThread { process.waitUntilExit(); continuation.resume() } }
        guard process.terminationStatus == 0 else { return false }
        return try Data(contentsOf: output) == Data(contentsOf: packageRoot.appendingPathComponent(committed))
    }
}
