import Foundation
import LedgerCore
import Server
import Services
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What the browser test needs: Debian's `chromium` and `chromium-driver`, and Selenium in the
/// package's Python venv (`.ci/run` installs all three).
enum BrowserTools {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let script = packageRoot.appendingPathComponent("Tests/PortalTests/browser/portal_browser.py")
    static let chromium = ProcessInfo.processInfo.environment["CARELEDGER_CHROMIUM"] ?? "/usr/bin/chromium"
    static let chromedriver = ProcessInfo.processInfo.environment["CARELEDGER_CHROMEDRIVER"] ?? "/usr/bin/chromedriver"
    static let python = packageRoot.appendingPathComponent(".build/careledger-pyenv/bin/python").path
    /// Where the screenshots go (not committed: .build is ignored).
    static let output = packageRoot.appendingPathComponent(".build/test-output/portal")

    /// Why the test cannot run here, or nil when it can.
    static let missing: String? = {
        let files = FileManager.default
        if !files.isExecutableFile(atPath: chromium) { return "no Chromium at \(chromium) (apt-get install chromium)" }
        if !files.isExecutableFile(atPath: chromedriver) { return "no ChromeDriver at \(chromedriver) (apt-get install chromium-driver)" }
        if !files.isExecutableFile(atPath: python) { return "no Python venv at \(python) (.ci/run makes it)" }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: python)
        probe.arguments = ["-c", "import selenium"]
        probe.standardOutput = FileHandle.nullDevice
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return "\(python) does not run" }
        probe.waitUntilExit()
        return probe.terminationStatus == 0 ? nil : "no selenium in \(python) (.ci/run pip-installs selenium)"
    }()

    /// One browser script at a time in this test process: each starts one or two Chromiums, and
    /// several at once with the rest of the suite loaded CI enough to fail timing checks elsewhere.
    static let gate = BrowserGate()

    /// Runs the script in its own process group, so that on a timeout the whole tree — Python,
    /// ChromeDriver and Chromium — is killed; stdout and stderr together. Waits its turn (`gate`).
    /// `whileRunning` is called every 100 ms while the script runs (to answer what the script asks for).
    static func run(_ arguments: [String], script: URL = BrowserTools.script, in directory: URL, timeoutSeconds: Double,
                    whileRunning: () async -> Void = {}) async throws -> BrowserRun {
        await gate.acquire()
        do {
            let result = try await runNow(arguments, script: script, in: directory, timeoutSeconds: timeoutSeconds, whileRunning: whileRunning)
            await gate.release()
            return result
        } catch {
            await gate.release()
            throw error
        }
    }

    private static func runNow(_ arguments: [String], script: URL, in directory: URL, timeoutSeconds: Double,
                               whileRunning: () async -> Void) async throws -> BrowserRun {
        let log = directory.appendingPathComponent("browser-output.txt")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = [python, script.path] + arguments
        process.currentDirectoryURL = directory
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = ContinuousClock.now + .seconds(timeoutSeconds)
        var timedOut = false
        while process.isRunning {
            if ContinuousClock.now >= deadline || Task.isCancelled {
                timedOut = true
                kill(-process.processIdentifier, SIGKILL)
                break
            }
            await whileRunning()
            try? await Task.sleep(for: .milliseconds(100))
        }
        process.waitUntilExit()
        // Whatever the script left behind in its group (a browser it could not quit) goes too.
        kill(-process.processIdentifier, SIGKILL)
        try handle.close()
        return BrowserRun(status: process.terminationStatus, output: (try? String(contentsOf: log, encoding: .utf8)) ?? "",
                          timedOut: timedOut, timeoutSeconds: timeoutSeconds)
    }
}

/// What a browser script's run gave.
struct BrowserRun {
    let status: Int32
    /// Its stdout and stderr together.
    let output: String
    let timedOut: Bool
    let timeoutSeconds: Double

    /// What every browser test checks of its script: it finished in time, exited 0, and printed
    /// its `marker` ("… all steps passed").
    func expectPassed(_ marker: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!timedOut, "the browser test did not finish within \(Int(timeoutSeconds)) s", sourceLocation: sourceLocation)
        #expect(status == 0, "\(output.suffix(6_000))", sourceLocation: sourceLocation)
        #expect(output.contains(marker), "\(output.suffix(6_000))", sourceLocation: sourceLocation)
    }
}

/// A lock for async code: one holder at a time, the others resumed in turn.
actor BrowserGate {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}

@Suite("Portal in headless Chromium: sign in, explore, verify proofs in the browser", .serialized)
struct PortalBrowserTests {
    /// A node and its server in process on a loopback port, driven by Selenium: sign-in with a sealed
    /// key file, the explorer, both proofs verified by the browser's WebCrypto, tampered proofs
    /// reported as failing, the page at phone width without console errors, sign-out, and sign-in
    /// with a key imported into the browser. Screenshots in .build/test-output/portal/.
    @Test(.timeLimit(.minutes(12)), .enabled(if: BrowserTools.missing == nil, "\(BrowserTools.missing ?? "")"))
    func signInExploreAndVerifyInTheBrowser() async throws {
        try await PortalFixture.with { fixture in
            let sealed = fixture.directory.appendingPathComponent("audrey.json"), plain = fixture.directory.appendingPathComponent("cleo.json")
            try PortalFixture.keyFile("audrey", fixture.auditor, passphrase: "correct horse").write(to: sealed)
            try PortalFixture.keyFile("cleo", fixture.clinician, passphrase: nil).write(to: plain)
            try? FileManager.default.removeItem(at: BrowserTools.output)
            let result = try await LedgerServer.withServerInProcess(services: { url in await fixture.services(publicURL: url) }) { port in
                try await BrowserTools.run(["http://127.0.0.1:\(port)", sealed.path, "correct horse", plain.path, BrowserTools.output.path],
                                           in: fixture.directory, timeoutSeconds: 180)
            }
            result.expectPassed("portal browser test: all steps passed")
            for name in ["sign-in.png", "explorer.png", "explorer-verified.png", "explorer-tampered.png", "explorer-phone.png", "explorer-browser-key.png"] {
                #expect(FileManager.default.fileExists(atPath: BrowserTools.output.appendingPathComponent(name).path), "\(name)")
            }
        }
    }
}
