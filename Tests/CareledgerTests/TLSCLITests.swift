import Foundation
import Testing

/// `careledger init --dev-cert` and `careledger node --tls-cert … --tls-key …` as a user runs them.
@Suite("TLS on the command line: a development certificate, HTTPS from the node, clear refusals")
struct TLSCLITests {
    /// `init --dev-cert` writes a PEM certificate and a 0600 PEM key into DATA/tls, and says so.
    @Test(.timeLimit(.minutes(5)))
    func initWritesADevelopmentCertificate() async throws {
        let data = temporaryDataPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        let result = try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital", "--dev-cert"])
        #expect(result.status == 0, "\(result.stderr)")
        let certificate = "\(data)/tls/dev-cert.pem", key = "\(data)/tls/dev-key.pem"
        #expect(result.stdout.contains(certificate) && result.stdout.contains(key), "\(result.stdout)")
        #expect(result.stdout.contains("development only"))
        #expect(try String(contentsOfFile: certificate, encoding: .utf8).hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(try String(contentsOfFile: key, encoding: .utf8).hasPrefix("-----BEGIN PRIVATE KEY-----"))
        #expect(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: "\(data)/tls")[.posixPermissions] as? Int == 0o700)
        // Without the flag there is no certificate.
        let plain = temporaryDataPath()
        defer { try? FileManager.default.removeItem(atPath: plain) }
        #expect(try await CareledgerBinary.run(["init", "--data", plain, "--json"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: "\(plain)/tls"))
    }

    /// Every bad combination of TLS options or files stops `node` before it serves, with its own
    /// message: usage mistakes exit 64, unusable files exit 1.
    @Test(.timeLimit(.minutes(5)))
    func nodeRefusesBadTLSInput() async throws {
        let data = temporaryDataPath(), other = temporaryDataPath()
        defer {
            try? FileManager.default.removeItem(atPath: data)
            try? FileManager.default.removeItem(atPath: other)
        }
        #expect(try await CareledgerBinary.run(["init", "--data", data, "--dev-cert"]).status == 0)
        #expect(try await CareledgerBinary.run(["init", "--data", other, "--dev-cert"]).status == 0)
        let certificate = "\(data)/tls/dev-cert.pem", key = "\(data)/tls/dev-key.pem"
        func node(_ arguments: [String]) async throws -> (status: Int32, stderr: String) {
            let result = try await CareledgerBinary.run(["node", "--data", data, "--port", "0"] + arguments, timeoutSeconds: 60)
            return (result.status, result.stderr)
        }
        let cases: [(String, [String], Int32, String)] = [
            ("only --tls-cert", ["--tls-cert", certificate], 64, "--tls-cert needs --tls-key"),
            ("only --tls-key", ["--tls-key", key], 64, "--tls-key needs --tls-cert"),
            ("an http public URL", ["--tls-cert", certificate, "--tls-key", key, "--public-url", "http://ledger.example.org"], 64,
             "use an https:// URL"),
            ("a missing certificate", ["--tls-cert", "\(data)/tls/none.pem", "--tls-key", key], 1, "no TLS certificate at \(data)/tls/none.pem"),
            ("a missing key", ["--tls-cert", certificate, "--tls-key", "\(data)/tls/none.pem"], 1, "no TLS private key at \(data)/tls/none.pem"),
            ("swapped files", ["--tls-cert", key, "--tls-key", certificate], 1, "swapped"),
            ("another certificate's key", ["--tls-cert", certificate, "--tls-key", "\(other)/tls/dev-key.pem"], 1, "does not belong to the certificate"),
            ("a key that is not PEM", ["--tls-cert", certificate, "--tls-key", "\(data)/node.json"], 1, "holds no PEM private key"),
        ]
        for (label, arguments, status, message) in cases {
            let result = try await node(arguments)
            #expect(result.status == status, "\(label): exit \(result.status), \(result.stderr)")
            #expect(result.stderr.contains(message), "\(label): \(result.stderr)")
        }
        // --tls-cert without --port is a usage error too (there is nothing to serve).
        let noPort = try await CareledgerBinary.run(["node", "--data", data, "--tls-cert", certificate, "--tls-key", key], timeoutSeconds: 60)
        #expect(noPort.status == 64 && noPort.stderr.contains("need --port"), "\(noPort.stderr)")
    }

    /// The node serves HTTPS with the development certificate: curl trusting only that certificate
    /// gets /fhir/metadata with an https token URL; plain HTTP to the port gets no answer.
    @Test(.timeLimit(.minutes(5)), .enabled(if: executableOnPath("curl") != nil, "needs curl"))
    func nodeServesHTTPS() async throws {
        let curl = try #require(executableOnPath("curl"))
        let data = temporaryDataPath()
        defer { try? FileManager.default.removeItem(atPath: data) }
        #expect(try await CareledgerBinary.run(["init", "--data", data, "--organization", "hospital:hospital", "--dev-cert"]).status == 0)
        let certificate = "\(data)/tls/dev-cert.pem"
        let node = try await blocking { try NodeProcess(data: data, arguments: ["--tls-cert", certificate, "--tls-key", "\(data)/tls/dev-key.pem"]) }
        defer { node.stop() }  // SIGTERM; the wait is bounded (30 s)
        #expect(node.banner.contains("listening on https://127.0.0.1:\(node.port)"), "\(node.banner)")
        #expect(node.banner.contains("TLS: \(certificate)"), "\(node.banner)")

        let metadata = try await runProgram(curl, ["--silent", "--show-error", "--fail", "--max-time", "20", "--cacert", certificate,
                                                   "https://127.0.0.1:\(node.port)/fhir/metadata"], timeoutSeconds: 30)
        #expect(metadata.status == 0, "\(metadata.output.prefix(500))")
        let statement = try JSONSerialization.jsonObject(with: Data(metadata.output.utf8)) as? [String: Any] ?? [:]
        let security = ((statement["rest"] as? [[String: Any]])?.first?["security"] as? [String: Any]) ?? [:]
        let oauth = ((security["extension"] as? [[String: Any]])?.first?["extension"] as? [[String: Any]]) ?? []
        #expect(oauth.first { $0["url"] as? String == "token" }?["valueUri"] as? String == "https://127.0.0.1:\(node.port)/auth/token",
                "\(metadata.output.prefix(800))")
        // By name as well: the certificate is for localhost.
        let byName = try await runProgram(curl, ["--silent", "--show-error", "--fail", "--max-time", "20", "--cacert", certificate,
                                                 "https://localhost:\(node.port)/healthz"], timeoutSeconds: 30)
        #expect(byName.status == 0 && byName.output.contains("\"status\""), "\(byName.output.prefix(300))")
        // The certificate names only localhost and the loopback addresses: another name is refused.
        let otherName = try await runProgram(curl, ["--silent", "--max-time", "20", "--cacert", certificate,
                                                    "--resolve", "ledger.example.org:\(node.port):127.0.0.1",
                                                    "https://ledger.example.org:\(node.port)/healthz"], timeoutSeconds: 30)
        #expect(otherName.status == 60, "curl exit \(otherName.status): \(otherName.output.prefix(300))")
        // curl without the certificate refuses the server (it is self-signed), and plain HTTP gets no HTTP answer.
        let untrusted = try await runProgram(curl, ["--silent", "--max-time", "20", "https://127.0.0.1:\(node.port)/healthz"], timeoutSeconds: 30)
        #expect(untrusted.status == 60, "curl exit \(untrusted.status): \(untrusted.output.prefix(300))")
        let plain = try await runProgram(curl, ["--silent", "--max-time", "20", "--write-out", "%{http_code}", "http://127.0.0.1:\(node.port)/healthz"],
                                         timeoutSeconds: 30)
        #expect(plain.status != 0 && plain.output.hasSuffix("000"), "curl exit \(plain.status): \(plain.output.prefix(300))")
    }
}
