import Foundation
import Testing

/// Runs the built `careledger` executable as a child process.
enum CareledgerBinary {
    /// The passphrase the tests' data directories seal their key files with.
    static let passphrase = "careledger tests — not a secret"

    /// The environment of every child: key files are sealed, so the tests' passphrase, and a cheap scrypt cost.
    static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["CARELEDGER_PASSPHRASE"] = passphrase
        environment["CARELEDGER_KEY_SCRYPT_LOGN"] = "10"
        return environment
    }

    /// The executable next to the test bundle (SwiftPM builds it because this target depends on it).
    static var url: URL {
        get throws {
            let candidates = [
                URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                Bundle.main.bundleURL.deletingLastPathComponent(),
                Bundle.main.bundleURL,
            ].map { $0.appendingPathComponent("careledger") }
            guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
                throw ChildError("careledger executable not found near \(CommandLine.arguments[0])")
            }
            return found
        }
    }

    /// Runs to completion (bounded by `timeoutSeconds`) and returns exit status and output.
    /// Runs to completion off the cooperative pool (bounded by `timeoutSeconds`).
    static func run(_ arguments: [String], timeoutSeconds: Double = 120, environment: [String: String]? = nil) async throws
        -> (status: Int32, stdout: String, stderr: String) {
        try await blocking { try runBlocking(arguments, timeoutSeconds: timeoutSeconds, environment: environment) }
    }

    static func runBlocking(_ arguments: [String], timeoutSeconds: Double = 120, environment: [String: String]? = nil) throws
        -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try url
        process.arguments = arguments
        process.environment = environment ?? Self.environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Drain pipes concurrently so a chatty child never blocks on a full pipe.
        nonisolated(unsafe) var outData = Data(), errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw ChildError("careledger \(arguments.joined(separator: " ")) did not finish within \(timeoutSeconds) s")
        }
        process.waitUntilExit()
        group.wait()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

struct ChildError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs blocking work (child processes, pipes, sleeps) on a GCD thread, so Swift Testing's small
/// cooperative pool stays free for the async tests running beside it; callers check the result.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// A fresh temporary directory path (not created).
func temporaryDataPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("careledger-cli-\(UUID().uuidString)").path
}

/// A fresh data directory and a scratch folder for one command-line test, with helpers that run
/// `careledger … --data DIR` against them. Call `remove()` when done (a `defer`).
struct CLIWorkspace {
    let data: String
    let files: URL

    init(_ label: String) throws {
        data = temporaryDataPath()
        files = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: files, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: data)
        try? FileManager.default.removeItem(at: files)
    }

    /// Runs a command against the data directory.
    func run(_ args: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let result = try await CareledgerBinary.run(args + ["--data", data])
        return (result.status, result.stdout, result.stderr)
    }

    /// Runs a command that must succeed; returns its stdout.
    @discardableResult
    func ok(_ args: [String]) async throws -> String {
        let result = try await run(args)
        #expect(result.status == 0, "\(args): \(result.stderr)")
        return result.stdout
    }

    /// Writes a scratch file; returns its path.
    func file(_ name: String, _ text: String) throws -> String {
        let url = files.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }
}
