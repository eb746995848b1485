import Console
import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Vault

/// The demo's health-record chapters: encrypted records, consent, break-glass, the access log and erasure.
extension DemoScript {
    /// A synthetic patient; the demo checks that these strings appear in no file of the data directory.
    static let patientFamilyName = "Quintero-Vasquez"
    static let patientMRN = "MRN-7730021"
    static let observationValue = "HbA1c 6.1 % (demo)"

    static var patientResource: [UInt8] {
        Array("""
        {"resourceType":"Patient","id":"demo-patient","name":[{"family":"\(patientFamilyName)","given":["Alma"]}],
         "identifier":[{"system":"urn:demo:mrn","value":"\(patientMRN)"}],"telecom":[{"system":"phone","value":"+1 555 0100 2233"}],
         "gender":"female","birthDate":"1961-04-12","address":[{"line":["12 Orchard Lane"],"city":"Springfield","postalCode":"01101"}]}
        """.utf8)
    }

    static var observationResource: [UInt8] {
        Array("""
        {"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},
         "subject":{"reference":"Patient/demo-patient"},"effectiveDateTime":"2026-11-02","valueString":"\(observationValue)"}
        """.utf8)
    }

    mutating func tellRecords(_ ledger: LocalLedger, names: [IdentityID: String], rivera: IdentityKeys, patient: IdentityKeys) async throws {
        var names = names
        let clinic = try directory.loadKey("city-clinic")
        story.chapter("Encrypted records and patient consent")
        var staff: [String: IdentityKeys] = [:]
        for (name, roles) in [("dr-chen", [Role.clinician]), ("dr-patel", [Role.emergencyClinician])] {
            let keys = IdentityKeys.generate()
            try directory.saveKey(name, keys)
            staff[name] = keys
            names[keys.derivedID] = name
            try await ledger.commit(ledger.sign(clinic, MembershipContract.Enroll(
                label: name, roles: roles, signingKey: keys.signingPublicKey, agreementKey: keys.agreementPublicKey)))
        }
        let chen = staff["dr-chen"]!, patel = staff["dr-patel"]!
        story.ok("city-clinic enrolled dr-chen (clinician) and dr-patel (urgent care, emergency-clinician)")

        let demographics = try await ledger.putRecord(content: Self.patientResource, patient: patient.derivedID, category: .general, author: rivera)
        let lab = try await ledger.putRecord(content: Self.observationResource, patient: patient.derivedID, category: .general, author: rivera)
        story.ok("dr-rivera (general-hospital) wrote the patient's Patient and Observation resources, each under its own AES-256-GCM key")
        story.note("on-chain: record \(lab.entry.record.hex.prefix(16))…, ciphertext hash \(lab.entry.ciphertextHash.hex.prefix(16))…, type Observation, category general — no PHI")
        story.note("data keys are wrapped under the patient's key at general-hospital, itself HPKE-wrapped (X25519, HKDF-SHA256, AES-256-GCM) to the patient and to general-hospital")
        let found = try ledger.access.search(.name, "quint")
        try expect(found == [demographics.entry.record], "blind search")
        story.ok("a search for name “quint…” finds the Patient record through keyed hashes; the index never holds the name")

        try await expectDenied(ledger, lab.entry.record, chen, .treatment, .noConsent, "dr-chen (city-clinic) asks to read the Observation")
        let consent = try await ledger.grantConsent(
            signer: patient, patient: patient.derivedID,
            grantee: .organization(clinic.derivedID),
            scope: ConsentScope(resourceTypes: ["Observation"]), purposes: [.treatment], actions: [.read], endMs: nil)
        story.ok("the patient granted city-clinic: read Observations for treatment (consent \(consent.hex.prefix(16))…)")
        let read = try await ledger.readRecord(lab.entry.record, as: chen, purpose: .treatment)
        try expect(String(decoding: read.content, as: UTF8.self).contains(Self.observationValue), "decrypted content")
        story.ok("dr-chen reads it: \(read.release.decision.reason.text); decrypted with a key re-wrapped for dr-chen alone")
        let revocation = try await ledger.revokeConsent(signer: patient, patient: patient.derivedID, consent: consent)
        story.ok("the patient revoked the consent (block \(revocation.status.height))")
        try await expectDenied(ledger, lab.entry.record, chen, .treatment, .noConsent, "dr-chen asks again")

        story.chapter("Break-glass in an emergency, and the patient's access log")
        try await expectDenied(ledger, lab.entry.record, patel, .emergencyTreatment, .noConsent, "dr-patel asks without break-glass")
        let emergency = try await ledger.breakGlass(lab.entry.record, as: patel, reason: .unconscious,
                                                    justification: "Patient brought in unresponsive; need latest labs.", minutes: 60)
        try expect(emergency.release.decision.outcome == .breakGlass, "break-glass outcome")
        story.ok("dr-patel used break-glass (unconscious, 60 min): access flagged, logged on-chain, patient notified")
        let anchor = try await ledger.anchorAudit()
        try expect(anchor != nil, "audit anchor")
        story.ok("the node anchored its audit log on-chain: \(anchor!.size) entries, root \(anchor!.root.hex.prefix(16))… (block \(anchor!.height))")
        let log = try ledger.access.accessLog(patient: patient.derivedID)
        story.note("the patient's access log:")
        for (index, entry) in log {
            let who = names[entry.requester] ?? String(entry.requester.hex.prefix(12))
            let mark = entry.outcome == .deny ? "✗" : (entry.outcome == .breakGlass ? "!" : "✓")
            story.note("  \(mark) #\(index) \(pad(who, 10)) \(pad(entry.purpose.rawValue, 7)) \(pad(entry.outcome.rawValue, 11)) \(entry.reason.rawValue)")
            if let sealed = entry.sealedJustification {
                let text = try SealedNote.open(sealed, recipient: patient.derivedID, with: patient.agreement)
                story.note("      justification (sealed to the patient): “\(text)”")
            }
        }
        try expect(log.count == 5 && log.filter { $0.entry.outcome == .deny }.count == 3, "access log shape")
        let notices = try ledger.store.states(prefix: ConsentIndex.noticePrefix(patient.derivedID), after: nil, limit: 10)
        try expect(notices.count == 1, "one notice")
        story.ok("the patient sees 1 break-glass notice on-chain and \(log.count) logged decisions, 3 of them denials")
        let proof = try ledger.access.auditProof(index: log.last!.index, anchorer: try ledger.auditAnchorer())
        try proof.verify()
        story.ok("the break-glass entry is proven in the anchored audit tree (\(proof.proof.count)-hash inclusion proof)")

        story.chapter("Erasing a record (crypto-shredding)")
        let erasure = try await ledger.eraseRecord(lab.entry.record, signer: patient)
        story.ok("the patient erased the Observation: \(erasure.report.blobs) blob and \(erasure.report.wrappedKeys) wrapped keys destroyed; the chain keeps the hash and the erasure (block \(erasure.receipt.status.height))")
        try await expectDenied(ledger, lab.entry.record, patient, .treatment, .recordErased, "the patient asks for the erased record")
        _ = try await ledger.anchorAudit()
        try ledger.store.checkpoint()
        let leaks = try PlaintextScan.find([Self.patientFamilyName, Self.patientMRN, Self.observationValue], under: directory.url)
        try expect(leaks.isEmpty, "no plaintext PHI in the data directory, found \(leaks)")
        story.ok("no file in the data directory contains the patient's name, MRN or lab value")
    }

    private func expectDenied(_ ledger: LocalLedger, _ record: Hash256, _ requester: IdentityKeys, _ purpose: Purpose,
                              _ reason: DecisionReason, _ what: String) async throws {
        do {
            _ = try await ledger.readRecord(record, as: requester, purpose: purpose)
            throw CLIError("demo check failed: \(what) was not denied")
        } catch AccessError.denied(let decision) {
            try expect(decision.reason == reason, "\(what): expected \(reason.rawValue), got \(decision.reason.rawValue)")
            story.refused("\(what): denied — \(decision.reason.text) (logged)")
        }
    }
}

/// Looks for plaintext in every file under a directory.
enum PlaintextScan {
    /// The (file, needle) pairs found; empty when no file holds any needle.
    static func find(_ needles: [String], under root: URL) throws -> [String] {
        var found: [String] = []
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = files?.nextObject() as? URL {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true,
                  let data = FileManager.default.contents(atPath: url.path) else { continue }
            for needle in needles where data.range(of: Data(needle.utf8)) != nil { found.append("\(url.lastPathComponent): \(needle)") }
        }
        return found
    }
}
