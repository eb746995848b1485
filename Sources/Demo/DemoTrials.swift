import Console
import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Vault

/// The demo's clinical-trial and telehealth chapters.
extension DemoScript {
    /// The demo trial's id (an NCT-style id; never PHI).
    static let demoTrial = "NCT-DEMO-0042"

    /// Commits `transaction`, expecting a refusal with `code`; returns the refusal.
    func expectRefused(_ ledger: LocalLedger, _ transaction: Transaction, _ code: ResultCode, _ what: String) async throws -> Refused {
        do {
            try await ledger.commit(transaction)
        } catch let refused as Refused {
            try expect(refused.code == code.name, "\(what): refused as \(refused.code), expected \(code.name)")
            return refused
        }
        throw CLIError("demo check failed: \(what) was accepted")
    }

    /// Chapter: a trial registered, a patient enrolled then withdrawn (data refused), and outcome switching flagged.
    mutating func tellTrials(_ ledger: LocalLedger, rivera: IdentityKeys, patient: IdentityKeys) async throws {
        story.chapter("Clinical-trial integrity: pre-registered endpoints, withdrawal, outcome switching")
        let sponsor = try directory.loadKey("trial-sponsor")
        let trial = Self.demoTrial
        // The protocol document stays with the sponsor; only its SHA-256 is registered.
        let protocolHash = Hash256.sha256(Array("Protocol \(trial) v1: randomized, open-label; primary endpoint PFS".utf8))
        let registration = try TrialFile.register(Data("""
            {"trial":"\(trial)","protocolHash":"\(protocolHash.hex)","consentFormVersion":1,
             "primaryEndpoints":["PFS"],"secondaryEndpoints":["OS","QOL"],"sites":["general-hospital"]}
            """.utf8), relativeTo: directory.url, directory: directory)
        try await ledger.commit(ledger.sign(sponsor, registration))
        let registered = TrialIndex.trial(trial, in: ledger.node.state)
        try expect(registered?.current.primaryEndpoints == ["PFS"], "trial registered with its endpoints")
        story.ok("trial-sponsor registered \(trial): protocol hash \(protocolHash.hex.prefix(16))…, consent form v1, site general-hospital")
        story.note("pre-registered endpoints — primary: PFS (progression-free survival); secondary: OS, QOL")

        try await ledger.commit(ledger.sign(patient, TrialsContract.Consent(
            trial: trial, patient: patient.derivedID, consentFormVersion: 1, recruitmentContact: false)))
        try await ledger.commit(ledger.sign(rivera, TrialsContract.Enroll(trial: trial, patient: patient.derivedID)))
        let enrolled = TrialIndex.participant(trial: trial, patient: patient.derivedID, in: ledger.node.state)
        try expect(enrolled?.status == .enrolled, "patient enrolled")
        story.ok("the patient signed research consent (HRESCH, consent form v1) with their own key; dr-rivera enrolled them at general-hospital")

        func submit(_ crf: String) -> Transaction {
            ledger.sign(rivera, TrialsContract.SubmitData(
                trial: trial, participant: patient.derivedID, crfHashes: [Hash256.sha256(Array(crf.utf8))], endpoint: "PFS"))
        }
        try await ledger.commit(submit(#"{"visit":1,"lesion_sum_mm":41}"#))
        let batch = TrialIndex.dataBatch(trial: trial, index: 1, in: ledger.node.state)
        try expect(batch?.endpoint == "PFS" && batch?.crfHashes.count == 1, "data batch anchored")
        story.ok("dr-rivera anchored the visit-1 case report form for endpoint PFS: only its SHA-256 \(batch!.crfHashes[0].hex.prefix(16))… is on-chain (batch 1, block \(batch!.height))")

        try await ledger.commit(ledger.sign(patient, TrialsContract.Withdraw(trial: trial, patient: patient.derivedID)))
        story.ok("the patient withdrew from the trial (effective from the next block)")
        let refused = try await expectRefused(ledger, submit(#"{"visit":2,"lesion_sum_mm":38}"#), .participantWithdrawn,
                                              "data after withdrawal")
        story.refused("the visit-2 data submission is REFUSED: \(refused.code) (code \(ResultCode.participantWithdrawn.rawValue))")

        try await ledger.commit(ledger.sign(sponsor, TrialsContract.ReportResults(
            trial: trial, primaryEndpoints: ["OS"], resultsHash: Hash256.sha256(Array("results tables: OS HR 0.81".utf8)))))
        let result = TrialIndex.results(trial: trial, in: ledger.node.state).last
        guard let flag = result?.flag else { throw CLIError("demo check failed: the swapped primary endpoint was not flagged") }
        try expect(flag.added == ["OS"] && flag.dropped == ["PFS"], "flag names the switched endpoints")
        story.refused("trial-sponsor reported results with OS as the primary endpoint — accepted but \(TrialOutput.flagLine(flag))")
        story.note("the flag is on-chain beside the report: anyone auditing the trial sees the switch, and no amendment declared it")
        let shown = TrialIndex.trial(trial, in: ledger.node.state)!
        story.note("trials show: \(shown.versions.count) protocol version, \(shown.participantCount) enrolled, \(shown.dataBatchCount) data batch, \(shown.resultCount) results report (flagged)")
    }

    /// Chapter: an end-to-end encrypted session, ciphertext only on disk, transcript hash anchored.
    mutating func tellTelehealth(_ ledger: LocalLedger, rivera: IdentityKeys, patient: IdentityKeys) async throws {
        story.chapter("An end-to-end encrypted telehealth session")
        let opened = try await ledger.openSession(rivera, patient: patient.derivedID, consentToRecord: true)
        let id = opened.id
        try expect(opened.status == .opened && opened.consentToRecord, "session opened")
        story.ok("dr-rivera opened session \(id.hex.prefix(16))… with the patient (consent to record: yes)")
        story.note("a fresh AES-256 session key, HPKE-wrapped to both parties' X25519 keys from the chain; on-chain only the key commitment \(opened.keyCommitment.hex.prefix(16))…")
        try await ledger.joinSession(patient, session: id)
        story.ok("the patient unwrapped their copy of the key, checked it against the commitment, and joined")

        let question = "How have you felt since we changed the metformin dose?"
        let answer = "Better. Some nausea in the mornings, glucose 6.8 fasting."
        let reply = "Take it with breakfast; we will check HbA1c next month."
        let state = ledger.node.state
        var file = try SessionFile.load(id, in: directory)
        _ = try file.send(SessionEnvelope(text: question), as: rivera, state: state, directory: directory)
        _ = try file.send(SessionEnvelope(text: answer), as: patient, state: state, directory: directory)
        let last = try file.send(SessionEnvelope(text: reply), as: rivera, state: state, directory: directory)
        story.ok("they exchanged 3 messages, each AES-256-GCM sealed and bound to session, sender and sequence number")
        story.note("on disk: sessions/\(id.hex.prefix(16))….json holds \(file.messages.count) sealed messages, e.g. \(Hex.encode(Array(last.bytes.suffix(24))))…")
        let leaks = try Self.files(under: directory.url, containing: ["metformin", "nausea", "HbA1c next month"])
        try expect(leaks.isEmpty, "no plaintext message on disk (found in \(leaks))")
        story.ok("no file in the data directory (ledger, vault, session file) contains a word of the conversation")
        let read = try SessionFile.load(id, in: directory).read(as: patient, state: ledger.node.state)
        try expect(read.map { $0.envelope.text ?? "" } == [question, answer, reply], "the patient reads the conversation")
        story.ok("the patient decrypts the log with their key: “\(read[0].envelope.text!.prefix(32))…”")
        let outsider = try directory.loadKey("dr-chen")
        do {
            _ = try SessionFile.load(id, in: directory).read(as: outsider, state: ledger.node.state)
            throw CLIError("demo check failed: a non-participant read the session")
        } catch let refused as Refused {
            try expect(refused.code == ResultCode.notSessionParticipant.name, "outsider refused")
            story.refused("dr-chen (city-clinic) holds no copy of the key: \(refused.code)")
        }

        let ended = try await ledger.endSession(patient, session: id)
        var transcript = SessionTranscript(session: id)
        for message in try SessionFile.load(id, in: directory).sealedMessages() { try transcript.append(message) }
        try expect(ended.status == .ended && ended.transcriptHash == transcript.hash && ended.messageCount == 3, "transcript anchored")
        story.ok("the patient ended the session; the transcript hash over the sealed messages is anchored at block \(ended.endedHeight!)")
        _ = try await expectRefused(ledger, ledger.sign(rivera, TelehealthContract.End(
            session: id, transcriptHash: .zero, messageCount: 0, endMs: ended.endMs!)), .sessionAlreadyEnded, "ending twice")
        story.refused("ending it again is refused: sessionAlreadyEnded")
        story.note("the session's on-chain record (telehealth show):")
        var names: [IdentityID: String] = [rivera.derivedID: "dr-rivera", patient.derivedID: "patient"]
        names[try directory.loadKey("general-hospital").derivedID] = "general-hospital"
        for line in SessionOutput.lines(ended, file: try SessionFile.load(id, in: directory), names: names) { story.note(line) }
    }

    /// Relative paths of regular files under `root` containing any of `needles`.
    static func files(under root: URL, containing needles: [String]) throws -> [String] {
        var found: [String] = []
        let enumerator = FileManager.default.enumerator(atPath: root.path)
        while let relative = enumerator?.nextObject() as? String {
            guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(relative).path) else { continue }
            if needles.contains(where: { data.range(of: Data($0.utf8)) != nil }) { found.append(relative) }
        }
        return found
    }
}
