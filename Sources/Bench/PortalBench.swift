import ArgumentParser
import Console
import Crypto
import Demo
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LedgerCore
import Portal
import Server
import Services
import Storage
import Vault

/// `careledger bench portal`: every portal page over the demo's data, one request at a time on
/// loopback, against issue 16's 200 ms and beside the trivial route measured the same way.
struct PortalBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "portal",
        abstract: "Load each portal page over the demo's data, one request at a time on loopback; report p50/p99 per page against 200 ms and /healthz.",
        discussion: """
            Prepares the demo's data (its whole story, quietly) in a temporary directory, serves it in this process, signs in \
            as the demo's staff (their key files, as the sign-in form does: the hospital, a clinician, the claims agent, the pharmacist) and as the patient (an assertion answering the form's \
            challenge, as her browser does), then requests each page --requests times after a few warm-up requests, each \
            timed from sending to the last byte. The limit measured in the same run is GET /healthz, timed the same way.
            """)

    @Option(help: "Requests per page.") var requests = 100
    @Option(help: "Anchors committed in the demo's bulk chapter.") var bulk = 2_000
    @Flag(help: "Print JSON.") var json = false

    /// The target: every page under 200 ms on loopback with the demo's data.
    static let targetMs = 200.0

    /// The pages measured, by who signs in: the hospital (staff) or the patient.
    /// The pages measured, by who signs in: a demo key file's name, "patient" (her key, as her
    /// browser signs in) or "anyone" (no session).
    static let pages: [(who: String, path: String)] = [
        ("general-hospital", "/portal/explorer"), ("general-hospital", "/portal/anomalies"), ("general-hospital", "/portal/network"),
        ("dr-rivera", "/portal/clinician"), ("dr-rivera", "/portal/clinician?name=Ellsworth"),
        ("claims-agent", "/portal/payer"), ("pharmacist-lee", "/portal/pharmacy"),
        ("patient", "/portal/patient"), ("patient", "/portal/patient/records"), ("patient", "/portal/patient/consents"),
        ("patient", "/portal/patient/access-log"), ("patient", "/portal/patient/claims"), ("patient", "/portal/patient/trials"),
        ("anyone", "/portal/sign-in"),
    ]

    func validate() throws {
        guard (10...100_000).contains(requests) else { throw ValidationError("--requests must be 10…100000") }
        guard (1...100_000).contains(bulk) else { throw ValidationError("--bulk must be 1…100000") }
    }

    struct Timing {
        let path: String
        let p50Ms: Double
        let p99Ms: Double
        let maxMs: Double
        var json: [String: Any] { ["path": path, "p50Ms": p50Ms, "p99Ms": p99Ms, "maxMs": maxMs] }
    }

    func run() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-portal-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var directory = DataDirectory(url: root, passphrase: "portal bench \(UUID().uuidString)")
        directory.keyCost = ScryptCost(logN: 12, r: 8, p: 1)
        if !json { Terminal.line("preparing the demo's data (its story, \(grouped(bulk)) anchors in bulk)…") }
        try await DemoData.prepare(directory, bulk: bulk)
        let ledger = try await LocalLedger.open(directory, blockDelayMs: 5)
        do {
            try await measure(ledger, directory)
        } catch {
            await ledger.close()
            throw error
        }
        await ledger.close()
    }

    func measure(_ ledger: LocalLedger, _ directory: DataDirectory) async throws {
        let nodeKeys = try directory.loadKey(ledger.settings.nodeKey)
        let staffNames = Set(Self.pages.map(\.who)).subtracting(["patient", "anyone"])
        let keyFiles = try Dictionary(uniqueKeysWithValues: staffNames.map { ($0, try Data(contentsOf: directory.keyURL($0))) })
        let patient = try directory.loadKey("patient")
        let passphrase = directory.passphrase ?? ""
        try await LedgerServer.withServerInProcess(services: { url in
            ServerServices(node: ledger.node, nodeKeys: nodeKeys,
                           tokens: await TokenAuthority(nodeKeys: nodeKeys, chainId: ledger.settings.chainId, publicURL: url,
                                                        usedAssertions: InMemoryUsedAssertions()), fhir: ledger.fhir)
        }) { port in
            let base = "http://127.0.0.1:\(port)"
            var cookies: [String: String] = ["patient": try await Self.signInAsPatient(base: base, keys: patient)]
            for (name, file) in keyFiles { cookies[name] = try await Self.signInWithKeyFile(base: base, file: file, passphrase: passphrase) }
            var timings: [Timing] = []
            let limit = try await Self.time(base + "/healthz", cookie: nil, requests: requests)
            if !json { Terminal.line("GET /healthz (the limit): p50 \(Self.ms(limit.p50Ms)), p99 \(Self.ms(limit.p99Ms))") }
            for page in Self.pages {
                let cookie = cookies[page.who]
                let timing = try await Self.time(base + page.path, cookie: cookie, requests: requests)
                timings.append(Timing(path: page.path, p50Ms: timing.p50Ms, p99Ms: timing.p99Ms, maxMs: timing.maxMs))
                if !json {
                    Terminal.line("\(page.path.padding(toLength: 36, withPad: " ", startingAt: 0)) p50 \(Self.ms(timing.p50Ms)), p99 \(Self.ms(timing.p99Ms)), "
                                  + "max \(Self.ms(timing.maxMs))  (p99 \(String(format: "%.1f", timing.p99Ms / Self.targetMs * 100))% of 200 ms; "
                                  + "\(String(format: "%.1f", timing.p99Ms / max(limit.p99Ms, 0.001)))× /healthz)")
                }
            }
            let worst = timings.max { $0.p99Ms < $1.p99Ms }!
            if json {
                Terminal.json(["requestsPerPage": requests, "targetMs": Self.targetMs, "healthz": limit.json, "pages": timings.map(\.json),
                               "worstP99Ms": worst.p99Ms, "met": worst.p99Ms < Self.targetMs])
            } else {
                Terminal.line("worst p99: \(worst.path) \(Self.ms(worst.p99Ms)): target < 200 ms \(worst.p99Ms < Self.targetMs ? "met" : "NOT met")")
            }
        }
    }

    static func ms(_ value: Double) -> String { String(format: "%.2f ms", value) }

    /// `requests` sequential GETs after 5 warm-up ones; every answer must be 200.
    static func time(_ url: String, cookie: String?, requests: Int) async throws -> Timing {
        var samples: [Double] = []
        for index in 0..<(requests + 5) {
            let start = ContinuousClock.now
            let answer = try await get(url, cookie: cookie)
            let elapsed = ContinuousClock.now - start
            guard answer.status == 200 else { throw CLIError("\(url) answered \(answer.status): \(String(decoding: answer.body.prefix(300), as: UTF8.self))") }
            if index >= 5 { samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1_000) }
        }
        samples.sort()
        func percentile(_ p: Double) -> Double { samples[min(samples.count - 1, Int((Double(samples.count) * p).rounded(.up)) - 1)] }
        return Timing(path: url, p50Ms: percentile(0.5), p99Ms: percentile(0.99), maxMs: samples.last!)
    }

    // MARK: HTTP, cookies by hand (two sessions side by side)

    /// A URL session that keeps no cookies (each request carries the one it is given) and follows
    /// no redirect (a sign-in's 303 carries the session cookie).
    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpCookieStorage = nil
        configuration.httpShouldSetCookies = false
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    static func request(_ url: String, method: String = "GET", cookie: String?, body: Data? = nil,
                        contentType: String? = nil) async throws -> (status: Int, body: Data, setCookie: String?) {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: 60)
        request.httpMethod = method
        if let cookie { request.setValue(cookie, forHTTPHeaderField: "Cookie") }
        if let body { request.httpBody = body }
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        return try await withCheckedThrowingContinuation { continuation in
            session.dataTask(with: request) { data, response, error in
                if let error { continuation.resume(throwing: error); return }
                let http = response as? HTTPURLResponse
                let setCookie = (http?.value(forHTTPHeaderField: "Set-Cookie")).flatMap { $0.split(separator: ";").first.map(String.init) }
                continuation.resume(returning: (http?.statusCode ?? 0, data ?? Data(), setCookie))
            }.resume()
        }
    }

    static func get(_ url: String, cookie: String?) async throws -> (status: Int, body: Data) {
        let answer = try await request(url, cookie: cookie)
        return (answer.status, answer.body)
    }

    /// The sign-in form: its session cookie, CSRF token and challenge.
    static func signInForm(base: String) async throws -> (cookie: String, csrf: String, challenge: String) {
        let form = try await request(base + "/portal/sign-in", cookie: nil)
        let page = String(decoding: form.body, as: UTF8.self)
        func attribute(_ pattern: String) -> String? {
            page.range(of: pattern, options: .regularExpression).map { String(page[$0]).split(separator: "\"", omittingEmptySubsequences: false).dropLast().last.map(String.init) ?? "" }
        }
        guard let cookie = form.setCookie, let csrf = attribute(#"name="csrf" value="[^"]*""#),
              let challenge = attribute(#"data-challenge="[^"]*""#) else { throw CLIError("the sign-in form is missing its session, CSRF token or challenge") }
        return (cookie, csrf, challenge)
    }

    static func signInWithKeyFile(base: String, file: Data, passphrase: String) async throws -> String {
        let form = try await signInForm(base: base)
        let boundary = "----careledger-bench"
        var body = Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n\(form.csrf)\r\n".utf8)
        body += Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"key\"; filename=\"key.json\"\r\nContent-Type: application/json\r\n\r\n".utf8)
        body += file + Data("\r\n--\(boundary)\r\nContent-Disposition: form-data; name=\"passphrase\"\r\n\r\n\(passphrase)\r\n--\(boundary)--\r\n".utf8)
        let answer = try await request(base + "/portal/sign-in/key-file", method: "POST", cookie: form.cookie, body: body,
                                       contentType: "multipart/form-data; boundary=\(boundary)")
        guard answer.status == 303, let cookie = answer.setCookie else {
            throw CLIError("a key-file sign-in answered \(answer.status): \(String(decoding: answer.body.prefix(2_000), as: UTF8.self))")
        }
        return cookie
    }

    static func signInAsPatient(base: String, keys: IdentityKeys) async throws -> String {
        let form = try await signInForm(base: base)
        let assertion = try await TokenAuthority.makeAssertion(for: keys, tokenURL: base + "/auth/token", jti: form.challenge)
        let body = "csrf=\(form.csrf)&assertion=\(assertion)"
        let answer = try await request(base + "/portal/sign-in/assertion", method: "POST", cookie: form.cookie, body: Data(body.utf8),
                                       contentType: "application/x-www-form-urlencoded")
        guard answer.status == 303, let cookie = answer.setCookie else { throw CLIError("the patient's sign-in answered \(answer.status)") }
        return cookie
    }
}
