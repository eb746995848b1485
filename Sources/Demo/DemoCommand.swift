import Console
public import ArgumentParser
import Contracts
import Crypto
import Foundation
import LedgerCore
import Node
import Portal
import Server
public import Services
import Storage
import Vault

/// `careledger demo`: the end-to-end story on a temporary data directory.
public struct DemoCommand: AsyncParsableCommand {
    public init() {}
    public static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the end-to-end story: a consortium commits; a patient controls encrypted records; claims, drug supply, trials and telehealth run on contracts; FHIR over HTTP; the chain verifies, proves and catches tampering.",
        discussion: """
            Uses a temporary data directory that is deleted afterwards, unless --data is given (then it is kept; it must not exist yet). \
            With --network, the clinic's clinician reads the hospital's record after the patient's consent, through the clinic's own \
            node, on a local 3-organization consortium (separate processes talking HTTP, ordered by a 3-member etcd cluster).
            """)

    @Option(help: "Keep the demo's data in this directory (must not exist yet).") var data: String?
    @Option(help: "Anchors committed in the bulk chapter.") var bulk = 2_000
    @Flag(help: "Tell the records story over a local consortium instead: 3 etcd members and a node process per organization (needs etcd: apt-get install etcd-server).")
    var network = false
    @Flag(help: "After the story, keep the node running and serve the web portal, /v1 and /fhir until Ctrl-C; prints the URL, the identities to sign in with and the patient's key backup to import.")
    var serve = false
    @Option(help: "The port --serve listens on, on 127.0.0.1 (0 picks a free one).") var port = 8080

    public func validate() throws {
        if serve, network { throw ValidationError("--serve runs on the embedded node; it does not go with --network") }
        if !(0...65_535).contains(port) { throw ValidationError("--port must be 0…65535") }
    }

    public func run() async throws {
        guard (1...100_000).contains(bulk) else { throw CLIError("--bulk must be 1…100000") }
        let keep = data != nil
        let root = data.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("careledger-demo-\(UUID().uuidString)")
        if keep, FileManager.default.fileExists(atPath: root.path) { throw CLIError("\(root.path) already exists; give a new directory") }
        defer { if !keep { try? FileManager.default.removeItem(at: root) } }
        if network {
            var demo = NetworkDemo(root: root.standardizedFileURL)
            try await demo.run()
            Terminal.line("")
            Terminal.line(keep ? "Network kept (stopped) in \(root.path): `careledger network up --dir \(root.path)` starts it again."
                          : "Demo network removed. Run with --data DIR to keep it.")
            return
        }
        // The demo's key files are sealed like any directory's, with a passphrase made for the run.
        let passphrase = Base64.encode(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0) })
        var directory = DataDirectory(url: root.standardizedFileURL, passphrase: passphrase)
        // A directory deleted when the demo ends is sealed at a lower scrypt cost (2¹² instead of 2¹⁵).
        if !keep { directory.keyCost = ScryptCost(logN: 12, r: 8, p: 1) }
        var script = DemoScript(directory: directory, bulk: bulk)
        try await script.run()
        if serve { return try await Self.serve(directory, passphrase: passphrase, port: port, kept: keep, handover: script.handoverPatient) }
        Terminal.line("")
        Terminal.line(keep ? "Data kept in \(root.path) — its key files are sealed with the passphrase \(passphrase): try "
                        + "`CARELEDGER_PASSPHRASE='\(passphrase)' careledger verify --data \(root.path)`."
                      : "Demo data removed. Run with --data DIR to keep it.")
    }
}

extension DemoCommand {
    /// The identities `--serve` offers to sign in with, and what each may do in the portal.
    static let staff: [(name: String, does: String)] = [
        ("general-hospital", "the hospital (custodian): explorer, access anomalies, network"),
        ("dr-rivera", "the hospital's clinician"), ("dr-chen", "the clinic's clinician"),
        ("claims-agent", "the health plan's claims agent"), ("pharmacist-lee", "the pharmacy's pharmacist"),
    ]

    /// Serves the demo's node until Ctrl-C: the portal, /v1 and /fhir, as `careledger node --port` does.
    static func serve(_ directory: DataDirectory, passphrase: String, port: Int, kept: Bool, handover: String?) async throws {
        // The patient's keys as a backup file the portal's browser code imports (a passphrase of its own).
        let patient = try directory.loadKey("patient")
        let backupPassphrase = "demo-" + Hex.encode(SymmetricKey(size: .bits128).withUnsafeBytes { Array($0.prefix(8)) })
        let backup = try PatientKeyFile.seal(.init(kind: .backup, keys: patient), id: patient.derivedID, passphrase: backupPassphrase)
        let backupURL = directory.url.appendingPathComponent("patient-backup.json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(backup).write(to: backupURL, options: .atomic)
        let keyFiles = staff.map { (path: directory.keyURL($0.name).path, does: $0.does) }
        let ledger = try await LocalLedger.open(directory, blockDelayMs: 5)
        do {
            try await LedgerServer.serve(ledger, directory: directory, host: "127.0.0.1", port: port, publicURL: nil, tls: nil,
                                         anchorFailed: { Terminal.error("audit anchor failed: \($0)") }) { url, peerPort in
                guard peerPort == nil else { return }
                // One write, so that a script reading the output sees the URL and the identities together.
                var lines = ["", "listening on \(url)", "Serving the demo's node until Ctrl-C:",
                             "  portal  \(url)\(Portal.basePath)",
                             "  API     \(url)/v1 (\(url)/v1/openapi.json), FHIR R4 at \(url)/fhir",
                             "Staff sign in under “With your key file”, with the passphrase \(passphrase):"]
                lines += keyFiles.map { "  \($0.path)  — \($0.does)" }
                lines += ["The patient signs in with keys held in her browser: “Restore my backup file”, with",
                          "  \(backupURL.path)  and the passphrase \(backupPassphrase)"]
                if let handover {
                    lines += ["A patient the hospital registered over FHIR signs with keys the node made: signed in as general-hospital, hand",
                              "  them to her at \(url)\(Portal.basePath)/handover (Patient/\(handover)); she opens the file with the code under",
                              "  “My hospital gave me a key file and a code” and takes control in her browser."]
                }
                if !kept { lines.append("The data is deleted when the node stops (run with --data DIR to keep it).") }
                Terminal.line(lines.joined(separator: "\n"))
            }
        } catch {
            await ledger.close()
            throw error
        }
        await ledger.close()
        Terminal.line("stopped at height \(await ledger.node.headHeader.height)")
    }
}

/// Numbered chapters with ✓/✗ lines.
struct Story {
    let chapters: Int
    /// Prints nothing (the demo's data made for a benchmark).
    let quiet: Bool
    private var current = 0
    init(chapters: Int, quiet: Bool = false) { (self.chapters, self.quiet) = (chapters, quiet) }

    mutating func chapter(_ title: String) {
        current += 1
        say("")
        say("[\(current)/\(chapters)] \(title)")
    }

    func ok(_ text: String) { say("  ✓ \(text)") }
    func refused(_ text: String) { say("  ✗ \(text)") }
    func note(_ text: String) { say("    \(text)") }
    func say(_ text: String) { if !quiet { Terminal.line(text) } }
}

/// The demo's data without its story: what `bench portal` measures pages over.
public enum DemoData {
    /// Runs the demo's story, printing nothing, into `directory` (which must not exist yet); the
    /// key files are sealed with the directory's passphrase.
    public static func prepare(_ directory: DataDirectory, bulk: Int) async throws {
        var script = DemoScript(directory: directory, bulk: bulk, story: Story(chapters: 16, quiet: true))
        try await script.run()
    }

    /// The staff identities `demo --serve` offers, by key name.
    public static var staff: [(name: String, does: String)] { DemoCommand.staff }
}

/// The demo's steps, in order. Each step checks what it shows, so a wrong story fails the demo.
struct DemoScript {
    let directory: DataDirectory
    let bulk: Int
    var story = Story(chapters: 16)
    /// The FHIR id of the patient the hospital registered over HTTP (her keys held by the node): `--serve` offers her handover.
    var handoverPatient: String?

    func expect(_ condition: Bool, _ what: String) throws {
        if !condition { throw CLIError("demo check failed: \(what)") }
    }

    mutating func run() async throws {
        story.say("CareLedger demo — a permissioned, Merkle-proven ledger for healthcare")
        story.say("data: \(directory.path)")

        story.chapter("Founding a consortium")
        let orgs = [OrganizationSpec(name: "general-hospital", type: .hospital), OrganizationSpec(name: "city-clinic", type: .clinic),
                    OrganizationSpec(name: "acme-health-plan", type: .payer), OrganizationSpec(name: "corner-pharmacy", type: .pharmacy),
                    OrganizationSpec(name: "northwind-pharma", type: .manufacturer), OrganizationSpec(name: "meridian-wholesale", type: .distributor),
                    OrganizationSpec(name: "trial-sponsor", type: .sponsor)]
        let genesis = try directory.initialize(chainId: "careledger-demo", organizations: orgs)
        story.ok("genesis block \(genesis.hash.hex.prefix(16))… names \(orgs.count) founding organizations and the node's orderer key")
        story.ok("every key file is sealed (scrypt + AES-256-GCM) with a passphrase generated for this run; none holds a private key in the clear")
        for org in orgs { story.note("\(pad(org.name, 18)) \(pad(org.type.rawValue, 12)) id \(try directory.loadKey(org.name).derivedID.hex.prefix(16))…") }

        let ledger = try await LocalLedger.open(directory, blockDelayMs: 5)
        do {
            try await tell(ledger)
        } catch {
            await ledger.close()
            throw error
        }
    }

    private func keys(_ name: String) throws -> IdentityKeys { try directory.loadKey(name) }

    private func commit(_ ledger: LocalLedger, _ tx: Transaction) async throws -> CommitReceipt {
        try await ledger.node.submitAndWait(tx)
    }

    private mutating func tell(_ ledger: LocalLedger) async throws {
        let hospital = try keys("general-hospital"), clinic = try keys("city-clinic")
        let payer = try keys("acme-health-plan"), pharmacy = try keys("corner-pharmacy")

        story.chapter("Enrolling members and a patient")
        var memberKeys: [String: IdentityKeys] = [:]
        for (org, orgKeys, name, roles) in [("general-hospital", hospital, "dr-rivera", [Role.clinician, .emergencyClinician]),
                                             ("city-clinic", clinic, "nurse-okafor", [.nurse]),
                                             ("acme-health-plan", payer, "claims-agent", [.payerAgent]),
                                             ("corner-pharmacy", pharmacy, "pharmacist-lee", [.pharmacist])] {
            let member = IdentityKeys.generate()
            try directory.saveKey(name, member)
            memberKeys[name] = member
            let receipt = try await commit(ledger, ledger.sign(orgKeys, MembershipContract.Enroll(
                label: name, roles: roles, signingKey: member.signingPublicKey, agreementKey: member.agreementPublicKey)))
            try expect(receipt.status.result.isAccepted, "enroll \(name)")
            story.ok("\(org) enrolled \(name) as \(roles.map(\.rawValue).joined(separator: " + ")) (block \(receipt.status.height))")
        }
        let patient = IdentityKeys.generate()
        try directory.saveKey("patient", patient)
        let registration = try await commit(ledger, ledger.sign(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)))
        try expect(registration.status.result.isAccepted, "patient registration")
        story.ok("a patient registered with keys they hold; on-chain they are only the pseudonym \(patient.derivedID.hex.prefix(16))…")

        story.chapter("Anchoring documents (no PHI on-chain: only digests)")
        let document = Hash256.sha256(domain: "demo/encrypted-discharge-summary", Array("ciphertext bytes held off-chain".utf8))
        let anchor = try await commit(ledger, ledger.sign(memberKeys["dr-rivera"]!, AnchorContract.Put(digest: document, kind: "document")))
        try expect(anchor.status.result.isAccepted, "anchor")
        story.ok("dr-rivera anchored document digest \(document.hex.prefix(16))… in block \(anchor.status.height)")
        let again = ledger.sign(memberKeys["nurse-okafor"]!, AnchorContract.Put(digest: document, kind: "document"))
        await expectRefusal(ledger, [again], "anchoring the same digest again", .rejected(Rejection(.alreadyAnchored, "")))
        ledger.resetSequence(memberKeys["nurse-okafor"]!.derivedID)

        let total = UInt64(bulk)
        var bar = ProgressBar("committing", total: total, enabled: Terminal.stderrIsTTY && !story.quiet)
        let device = IdentityKeys.generate()
        try directory.saveKey("lab-device", device)
        _ = try await commit(ledger, ledger.sign(hospital, MembershipContract.Enroll(
            kind: .device, label: "lab-device", roles: [.integration], signingKey: device.signingPublicKey,
            agreementKey: device.agreementPublicKey)))
        let commits = await ledger.node.commits()
        let clock = ContinuousClock()
        let started = clock.now
        let batch = (0..<bulk).map { index in
            ledger.sign(device, AnchorContract.Put(digest: Hash256.sha256(domain: "demo/lab-result", Array("\(index)".utf8)), kind: "lab-result"))
        }
        for result in await ledger.node.submit(batch) { _ = try result.get() }
        var done: UInt64 = 0
        for await block in commits {
            done += UInt64(block.transactionIDs.count)
            bar.update(done)
            if done >= total { break }
        }
        bar.finish()
        let seconds = (clock.now - started) / .seconds(1)
        story.ok("a lab device anchored \(grouped(bulk)) result digests in \(fixed(seconds, 2)) s (\(grouped(Int(Double(bulk) / max(seconds, 0.001)))) tx/s, signed and durably committed)")

        story.chapter("Refusing bad transactions before ordering")
        let replay = ledger.sign(memberKeys["dr-rivera"]!, AnchorContract.Put(digest: Hash256.sha256(Array("x".utf8)), kind: "document"))
        _ = try await commit(ledger, replay)
        await expectRefusal(ledger, [replay], "replaying a committed transaction", .rejected(Rejection(.sequenceReplayed, "")))
        var forged = Array(replay.bytes)
        forged[forged.count - 5] ^= 0x01
        let forgedResult = await ledger.node.submit(bytes: [forged])[0]
        try expect((try? forgedResult.get()) == nil, "forged signature")
        story.refused("a transaction with one flipped signature bit: \(forgedResult.failureDescription)")
        let byPatient = ledger.sign(patient, MembershipContract.Enroll(
            label: "fake", roles: [.clinician], signingKey: IdentityKeys.generate().signingPublicKey, agreementKey: patient.agreementPublicKey))
        await expectRefusal(ledger, [byPatient], "a patient trying to enroll a clinician", .rejected(Rejection(.unauthorized, "")))
        ledger.resetSequence(patient.derivedID)
        let byPayer = ledger.sign(payer, MembershipContract.Enroll(
            label: "fake-er", roles: [.emergencyClinician], signingKey: IdentityKeys.generate().signingPublicKey,
            agreementKey: payer.agreementPublicKey))
        await expectRefusal(ledger, [byPayer], "a health plan trying to enroll an emergency clinician", .rejected(Rejection(.roleNotAllowed, "")))
        ledger.resetSequence(payer.derivedID)
        let expired = ledger.sign(memberKeys["dr-rivera"]!, AnchorContract.Put(digest: Hash256.sha256(Array("y".utf8)), kind: "document"), expiryHeight: 1)
        await expectRefusal(ledger, [expired], "a transaction that expired at height 1", .rejected(Rejection(.expired, "")))
        ledger.resetSequence(memberKeys["dr-rivera"]!.derivedID)
        let unknown = ledger.sign(memberKeys["dr-rivera"]!, contract: "lottery", method: "draw", args: .map([:]))
        await expectRefusal(ledger, [unknown], "a call to a contract that does not exist", .rejected(Rejection(.unknownContract, "")))
        ledger.resetSequence(memberKeys["dr-rivera"]!.derivedID)

        story.chapter("Revoking a member and rotating a key")
        let revoke = try await commit(ledger, ledger.sign(clinic, MembershipContract.Revoke(member: memberKeys["nurse-okafor"]!.derivedID)))
        try expect(revoke.status.result.isAccepted, "revoke")
        story.ok("city-clinic revoked nurse-okafor (block \(revoke.status.height))")
        let afterRevoke = ledger.sign(memberKeys["nurse-okafor"]!, AnchorContract.Put(digest: Hash256.sha256(Array("z".utf8)), kind: "document"))
        await expectRefusal(ledger, [afterRevoke], "nurse-okafor after revocation", .rejected(Rejection(.senderRevoked, "")))
        let newKeys = IdentityKeys.generate()
        let rotation = try await commit(ledger, ledger.sign(payer, MembershipContract.RotateKey(signingKey: newKeys.signingPublicKey, agreementKey: newKeys.agreementPublicKey)))
        try expect(rotation.status.result.isAccepted, "rotation")
        story.ok("acme-health-plan rotated its keys; its id stays \(payer.derivedID.hex.prefix(16))…")
        let oldKey = ledger.sign(payer, AnchorContract.Put(digest: Hash256.sha256(Array("w".utf8)), kind: "document"))
        await expectRefusal(ledger, [oldKey], "a transaction signed with the old key", .rejected(Rejection(.keyMismatch, "")))
        ledger.resetSequence(payer.derivedID)
        let newKey = try await commit(ledger, ledger.sign(newKeys, sender: payer.derivedID, AnchorContract.Put(digest: Hash256.sha256(Array("w".utf8)), kind: "document")))
        try expect(newKey.status.result.isAccepted, "new key works")
        story.ok("the same transaction signed with the new key is accepted (block \(newKey.status.height))")

        var names: [IdentityID: String] = [patient.derivedID: "patient"]
        for (name, keys) in memberKeys { names[keys.derivedID] = name }
        try await tellRecords(ledger, names: names, rivera: memberKeys["dr-rivera"]!, patient: patient)
        try await tellClaims(ledger, agent: memberKeys["claims-agent"]!, rivera: memberKeys["dr-rivera"]!, patient: patient)
        try await tellSupply(ledger, rivera: memberKeys["dr-rivera"]!, lee: memberKeys["pharmacist-lee"]!, patient: patient)
        try await tellTrials(ledger, rivera: memberKeys["dr-rivera"]!, patient: patient)
        try await tellTelehealth(ledger, rivera: memberKeys["dr-rivera"]!, patient: patient)
        try await tellServer(ledger, rivera: memberKeys["dr-rivera"]!)

        let head = await ledger.node.headHeader
        await ledger.close()

        story.chapter("Verifying the whole chain")
        let store = try directory.openStore()
        var verifyBar = ProgressBar("verifying", total: head.height + 1, enabled: Terminal.stderrIsTTY && !story.quiet)
        let outcome = try ChainAudit.run(store: store) { height, _ in verifyBar.update(height + 1) }
        verifyBar.finish()
        let report = try outcome.get()
        story.ok("\(report.height + 1) blocks, \(grouped(report.transactions)) transactions: hash links, orderer and transaction signatures, Merkle roots, and re-execution to the same state roots all check")

        story.chapter("Proving a transaction is in the log (RFC 9162)")
        let builder = MerkleProofBuilder(source: store)
        let location = try store.location(of: registration.status.transactionID)!
        let proof = try builder.inclusionProof(index: location.logIndex, size: head.logSize)
        let leaf = MerkleHashing.leafHash(try store.transactionBytes(logIndex: location.logIndex)!)
        try MerkleVerifier.verifyInclusion(leafHash: leaf, index: location.logIndex, size: head.logSize, proof: proof, root: head.logRoot)
        story.ok("the patient's registration is leaf \(location.logIndex) of \(grouped(head.logSize)); \(proof.count) hashes lead to the signed root \(head.logRoot.hex.prefix(16))…")
        let firstSize = registration.treeSize
        let consistency = try builder.consistencyProof(first: firstSize, second: head.logSize)
        try MerkleVerifier.verifyConsistency(first: firstSize, second: head.logSize, firstRoot: registration.rootHash,
                                             secondRoot: head.logRoot, proof: consistency)
        story.ok("the log only grew: a \(consistency.count)-hash consistency proof links tree size \(firstSize) to \(grouped(head.logSize))")

        story.chapter("Catching tampering")
        let copy = directory.url.appendingPathComponent("tampered-copy.sqlite")
        try store.copy(to: copy.path)
        defer { try? FileManager.default.removeItem(at: copy) }
        let tampered = try SQLiteLedgerStore(path: copy.path)
        // Flip one byte inside the anchored digest of dr-rivera's transaction: a plausible forgery.
        let target = try store.location(of: anchor.status.transactionID)!
        var bytes = try store.transactionBytes(logIndex: target.logIndex)!
        bytes[bytes.count - 100] ^= 0x01
        try tampered.unsafeExecute("UPDATE tx SET bytes = ? WHERE log_index = \(target.logIndex)", arguments: [Data(bytes)])
        story.note("flipped one bit of transaction \(anchor.status.transactionID.hex.prefix(16))… in a copy of the store")
        switch try ChainAudit.run(store: tampered) {
        case .success: throw CLIError("demo check failed: tampering was not detected")
        case .failure(let error):
            try expect(error.height == target.height, "tamper height")
            story.refused("verify: \(error)")
        }
        guard case .success = try ChainAudit.run(store: store) else { throw CLIError("demo check failed: original store no longer verifies") }
        story.ok("the original store still verifies; the tampered copy is discarded")
    }

    private func expectRefusal(_ ledger: LocalLedger, _ txs: [Transaction], _ what: String, _ expected: AdmissionError) async {
        let result = await ledger.node.submit(txs)[0]
        guard case .failure(let error) = result, error.code == expected.code else {
            story.refused("UNEXPECTED: \(what) was not refused as \(expected.code)")
            return
        }
        story.refused("\(what): \(error)")
    }
}

extension Result where Failure == AdmissionError {
    var failureDescription: String {
        switch self {
        case .success: "accepted"
        case .failure(let error): "\(error)"
        }
    }
}
