import Foundation
import Testing

/// Telehealth sessions through child processes: end-to-end encryption, participants only, transcript anchoring.
@Suite("Telehealth sessions through the command line")
struct TelehealthCLITests {
    /// A data directory with a hospital, its clinician `doc`, and patients `pat` and `eve` (the outsider).
    static func setUp(_ cli: CLIWorkspace) async throws {
        try await cli.ok(["init", "--organization", "hospital:hospital"])
        for name in ["doc", "pat", "eve"] { try await cli.ok(["keys", "new", name]) }
        try await cli.ok(["submit", "--as", "hospital", "--contract", "membership", "--method", "enroll", "--args",
                      #"{"kind":"member","label":"doc","roles":["clinician"],"signingKey":"@signing:doc","agreementKey":"@agreement:doc"}"#])
        for name in ["pat", "eve"] {
            try await cli.ok(["submit", "--as", name, "--contract", "membership", "--method", "registerPatient", "--args",
                          "{\"agreementKey\":\"@agreement:\(name)\"}"])
        }
    }

    /// Every regular file under `path` that contains `needle` (bytes).
    static func filesContaining(_ needle: String, under path: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: path)
        var found: [String] = []
        while let relative = enumerator?.nextObject() as? String {
            let full = (path as NSString).appendingPathComponent(relative)
            guard let data = FileManager.default.contents(atPath: full) else { continue }
            if data.range(of: Data(needle.utf8)) != nil { found.append(relative) }
        }
        return found
    }

    @Test(.timeLimit(.minutes(3)))
    func encryptedSessionWithRecordedTranscript() async throws {
        let cli = try CLIWorkspace("tele")
        defer { cli.remove() }
        try await Self.setUp(cli)

        #expect(try await cli.run(["telehealth", "open", "--as", "pat", "--patient", "eve"]).status == 3, "a patient opens no session")
        let opened = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["telehealth", "open", "--as", "doc", "--patient", "pat",
                                                                               "--consent-to-record", "--json"]).utf8)) as? [String: Any]
        let session = try #require(opened?["session"] as? String)
        #expect(opened?["status"] as? String == "opened" && opened?["consentToRecord"] as? Bool == true)
        let early = try await cli.run(["telehealth", "send", session, "--as", "doc", "--message", "early"])
        #expect(early.status == 3 && early.stderr.contains("sessionNotJoined"), "\(early.stderr)")
        #expect(try await cli.run(["telehealth", "join", session, "--as", "eve"]).status == 3, "only the session's patient joins")
        _ = try await cli.ok(["telehealth", "join", session, "--as", "pat"])

        let question = "Any chest pain since Tuesday's dose change?"
        let answer = "Mild tightness at night, no pain today."
        let attachment = "home BP log: 142/91 (attachment body)"
        _ = try await cli.ok(["telehealth", "send", session, "--as", "doc", "--message", question])
        _ = try await cli.ok(["telehealth", "send", session, "--as", "pat", "--message", answer])
        let log = cli.files.appendingPathComponent("bp-log.txt")
        try Data(attachment.utf8).write(to: log)
        _ = try await cli.ok(["telehealth", "send", session, "--as", "pat", "--file", log.path])
        #expect(try await cli.run(["telehealth", "send", session, "--as", "eve", "--message", "let me in"]).status == 3)

        // Both participants read everything; the clinician saves the attachment.
        let out = cli.files.appendingPathComponent("received").path
        let byDoctor = try await cli.ok(["telehealth", "read", session, "--as", "doc", "--out", out])
        #expect(byDoctor.contains(question) && byDoctor.contains(answer) && byDoctor.contains("bp-log.txt"), "\(byDoctor)")
        #expect(String(decoding: FileManager.default.contents(atPath: out + "/bp-log.txt") ?? Data(), as: UTF8.self) == attachment)
        let byPatient = try await cli.ok(["telehealth", "read", session, "--as", "pat", "--json"])
        #expect(byPatient.contains(question) && byPatient.contains(answer))

        // A non-participant cannot read, even with the data directory's session file at hand.
        let outsider = try await cli.run(["telehealth", "read", session, "--as", "eve"])
        #expect(outsider.status == 3 && outsider.stderr.contains("notSessionParticipant"), "\(outsider.stderr)")
        #expect(!outsider.stdout.contains(question) && !outsider.stdout.contains(answer))

        // No plaintext message anywhere in the data directory: only ciphertext, wrapped keys and hashes.
        for needle in [question, answer, attachment, "chest pain", "tightness"] {
            #expect(Self.filesContaining(needle, under: cli.data).isEmpty, "“\(needle)” found on disk")
        }

        // Ending anchors the transcript hash; ending twice is refused.
        let ended = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["telehealth", "end", session, "--as", "pat", "--json"]).utf8)) as? [String: Any]
        #expect(ended?["status"] as? String == "ended" && ended?["messageCount"] as? Int == 3)
        let transcript = try #require(ended?["transcriptHash"] as? String)
        #expect(transcript != String(repeating: "0", count: 64))
        let again = try await cli.run(["telehealth", "end", session, "--as", "doc"])
        #expect(again.status == 3 && again.stderr.contains("sessionAlreadyEnded"), "\(again.stderr)")
        let shown = try await cli.ok(["telehealth", "show", session])
        #expect(shown.contains("ended") && shown.contains(transcript) && shown.contains("3 sealed message(s)"), "\(shown)")
        // The recorded transcript stays readable by the participants after the end.
        #expect(try await cli.ok(["telehealth", "read", session, "--as", "doc"]).contains(answer))
        #expect(try await cli.run(["verify"]).status == 0)
    }

    @Test(.timeLimit(.minutes(3)))
    func withoutConsentToRecordNothingIsKept() async throws {
        let cli = try CLIWorkspace("tele")
        defer { cli.remove() }
        try await Self.setUp(cli)
        let opened = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["telehealth", "open", "--as", "doc", "--patient", "pat", "--json"]).utf8)) as? [String: Any]
        let session = try #require(opened?["session"] as? String)
        _ = try await cli.ok(["telehealth", "join", session, "--as", "pat"])
        _ = try await cli.ok(["telehealth", "send", session, "--as", "doc", "--message", "off the record"])
        let ended = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["telehealth", "end", session, "--as", "doc", "--json"]).utf8)) as? [String: Any]
        #expect(ended?["transcriptHash"] as? String == String(repeating: "0", count: 64) && ended?["messageCount"] as? Int == 1)
        #expect((ended?["localFile"] as? [String: Any])?["sealedMessages"] as? Int == 0, "sealed messages deleted at the end")
        #expect(try await cli.ok(["telehealth", "read", session, "--as", "pat"]).contains("no messages"))

        // A session the patient never joins ends as a no-show.
        let second = try JSONSerialization.jsonObject(with: Data(try await cli.ok(["telehealth", "open", "--as", "doc", "--patient", "pat", "--json"]).utf8)) as? [String: Any]
        let noShow = try #require(second?["session"] as? String)
        #expect(try await cli.run(["telehealth", "end", noShow, "--as", "pat"]).status == 3, "a patient cannot end a session never joined")
        #expect(try await cli.ok(["telehealth", "end", noShow, "--as", "doc"]).contains("no-show"))
    }
}
