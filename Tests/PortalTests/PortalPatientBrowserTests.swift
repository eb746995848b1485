import Contracts
import Crypto
import Foundation
import Hummingbird
import LedgerCore
import Logging
import NIOCore
import Node
import Server
import ServiceLifecycle
import Services
import Storage
import Synchronization
import Testing
import Vault

/// Every request body the server received, in order (the test's witness that no private key was sent).
final class ReceivedBodies: Sendable {
    private let bodies = Mutex<[(path: String, body: [UInt8])]>([])
    func append(_ path: String, _ body: [UInt8]) { bodies.withLock { $0.append((path, body)) } }
    var all: [(path: String, body: [UInt8])] { bodies.withLock { $0 } }
}

struct RecordingServerStopped: Error, CustomStringConvertible {
    var description: String { "the recording server stopped before it started" }
}

/// Records each request's body, then hands the request on to the server's router unchanged.
struct RecordingResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == LedgerRequestContext {
    let inner: Inner
    let received: ReceivedBodies
    func respond(to request: Request, context: LedgerRequestContext) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 1 << 20)
        received.append(request.uri.path, Array(buffer: body))
        return try await inner.respond(to: request, context: context)
    }
}

@Suite("Portal in headless Chromium: a patient takes control of her keys, grants, revokes", .serialized)
struct PortalPatientBrowserTests {
    /// The patient story: a patient registered by the hospital (keys it made) opens the hospital's
    /// handover file in the browser, signs in, takes control (rotateKey signed in the browser), opens
    /// her record (written before she took control) decrypted in the browser, grants the clinic, the
    /// clinic's clinician reads, she revokes, the clinician is refused, and she sees both in her access
    /// log, with an emergency clinician's break-glass justification (sealed to the key she held
    /// before) opened in the browser; a second break-glass appears on the open page within a second,
    /// its justification (sealed to her new key) opened too. Then: the backup the browser saved holds the ledger's current key, and
    /// neither any request body the server received nor any file it stored contains her private keys.
    @Test(.timeLimit(.minutes(12)), .enabled(if: BrowserTools.missing == nil, "\(BrowserTools.missing ?? "")"))
    func patientTakesControlGrantsAndRevokes() async throws {
        try await PortalFixture.with { fixture in
            let node = fixture.node
            // The hospital registers the patient with keys it makes and keeps (as FHIR registration does).
            let patient = IdentityKeys.generate()
            _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
                chainId: PortalFixture.chainId, sender: patient.derivedID, publicKey: patient.signingPublicKey, sequence: 1,
                call: MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)), with: patient), timeoutMs: 60_000)
            let record = Hash256.sha256(Array("portal patient record".utf8))
            let prepared = try fixture.access.prepare(content: Array(#"{"resourceType":"Observation","status":"final"}"#.utf8), record: record,
                                                      version: 1, patient: patient.derivedID, custodian: fixture.hospital.derivedID)
            try fixture.access.store(prepared.version)
            _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
                chainId: PortalFixture.chainId, sender: fixture.hospital.derivedID, publicKey: fixture.hospital.signingPublicKey,
                sequence: BlockExecutor.lastSequence(of: fixture.hospital.derivedID, in: node.state) + 1,
                call: RecordsContract.Register(record: record, patient: patient.derivedID, resourceType: "Observation", category: .general,
                                               ciphertextHash: prepared.version.blob.hash, version: 1)), with: fixture.hospital), timeoutMs: 60_000)
            // The clinic's emergency clinician breaks the glass before she takes control: the justification
            // is sealed to the key the hospital made (her access log opens it with the key her backup keeps).
            let emergency = IdentityKeys(seed: Array(repeating: 45, count: 32))
            _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
                chainId: PortalFixture.chainId, sender: fixture.clinic.derivedID, publicKey: fixture.clinic.signingPublicKey,
                sequence: BlockExecutor.lastSequence(of: fixture.clinic.derivedID, in: node.state) + 1,
                call: MembershipContract.Enroll(label: "Dr. Em Ergency", roles: [.emergencyClinician], signingKey: emergency.signingPublicKey,
                                                agreementKey: emergency.agreementPublicKey)), with: fixture.clinic), timeoutMs: 60_000)
            let justificationBefore = "Unconscious on arrival; checking allergies (é ü 🚑)"
            let justificationLive = "Cardiac arrest in the emergency department"
            let sealedBefore = try SealedNote.seal(justificationBefore, to: patient.derivedID, agreementKey: patient.agreementPublicKey)
            _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
                chainId: PortalFixture.chainId, sender: emergency.derivedID, publicKey: emergency.signingPublicKey, sequence: 1,
                call: ConsentContract.BreakGlass(patient: patient.derivedID, record: record, reason: .unconscious,
                                                 justificationHash: Hash256.sha256(sealedBefore), minutes: 60)), with: emergency), timeoutMs: 60_000)
            let emergencyRead = { (sealed: [UInt8]) in
                try await fixture.access.read(AccessRequest(requester: emergency.derivedID, record: record, purpose: .emergencyTreatment, action: .read),
                                              sealedJustification: sealed)
            }
            #expect(try await emergencyRead(sealedBefore).decision.outcome == .breakGlass)
            // She consented to a trial (with the keys the hospital made); she withdraws in the browser.
            try await PortalPatientRouteTests.trialConsented(fixture, patient: patient, trial: "CARDIO-7")
            // The hospital's desk hands her keys over: a file sealed with a one-time code she is told in person.
            let code = "tangerine-4417-harbor"
            let handover = fixture.directory.appendingPathComponent("handover.json")
            try JSONEncoder().encode(try PatientKeyFile.seal(.init(kind: .handover, keys: patient), id: patient.derivedID, passphrase: code))
                .write(to: handover)
            let downloads = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-portal-downloads-\(UUID().uuidString)")
            let markers = fixture.directory.appendingPathComponent("markers")
            for directory in [downloads, markers] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            defer { try? FileManager.default.removeItem(at: downloads) }
            let passphrase = "a long backup passphrase"
            var reads: [String: Bool] = [:]
            var liveDone = false
            var liveOutcome: DecisionOutcome?
            let received = ReceivedBodies()
            let result = try await Self.withRecordingServer(fixture, received) { port in
                try await BrowserTools.run(["patient", "http://127.0.0.1:\(port)", handover.path, code, passphrase, fixture.clinic.derivedID.hex,
                                            BrowserTools.output.path, downloads.path, markers.path, justificationBefore, justificationLive],
                                           in: fixture.directory, timeoutSeconds: 240) {
                    // On the access-log page: the emergency clinician reads again, the justification sealed to her new key;
                    // the browser must show it (live) and open it.
                    if !liveDone, FileManager.default.fileExists(atPath: markers.appendingPathComponent("live").path),
                       let current = Directory.identity(patient.derivedID, in: node.state) {
                        liveDone = true
                        liveOutcome = try? await emergencyRead(SealedNote.seal(justificationLive, to: patient.derivedID, agreementKey: current.agreementKey))
                            .decision.outcome
                        FileManager.default.createFile(atPath: markers.appendingPathComponent("read-after-live").path, contents: Data())
                    }
                    // The browser says when it has granted and revoked; the clinic's clinician then asks for the record.
                    for step in ["granted", "revoked"] where reads[step] == nil
                        && FileManager.default.fileExists(atPath: markers.appendingPathComponent(step).path) {
                        let request = AccessRequest(requester: fixture.clinician.derivedID, record: record, purpose: .treatment, action: .read)
                        reads[step] = (try? await fixture.access.read(request)) != nil
                        FileManager.default.createFile(atPath: markers.appendingPathComponent("read-after-\(step)").path, contents: Data())
                    }
                }
            }
            result.expectPassed("patient browser test: all steps passed")
            #expect(reads == ["granted": true, "revoked": false], "the clinician reads while the consent stands, and is refused after")
            #expect(TrialIndex.participant(trial: "CARDIO-7", patient: patient.derivedID, in: node.state)?.status == .withdrawn,
                    "her withdrawal, signed in the browser, committed")
            #expect(liveOutcome == .breakGlass, "the emergency clinician's second read, shown live on her access log, was a break-glass")

            // The backup the browser saved opens with her passphrase and holds the ledger's current key.
            let files = try FileManager.default.contentsOfDirectory(at: downloads, includingPropertiesForKeys: nil).filter { $0.pathExtension == "json" }
            let backupURL = try #require(files.first, "the browser saved no backup file")
            let backup = try JSONDecoder().decode(PatientKeyFile.self, from: Data(contentsOf: backupURL))
            let opened = try backup.open(passphrase: passphrase)
            let identity = try #require(Directory.identity(patient.derivedID, in: node.state))
            #expect(backup.id == patient.derivedID.hex && opened.kind == .backup)
            #expect(identity.signingKey == opened.keys.signingPublicKey && identity.agreementKey == opened.keys.agreementPublicKey)
            #expect(identity.keyVersion == 2 && opened.keys.signingPublicKey != patient.signingPublicKey, "key versions start at 1; one rotation")
            #expect(opened.previousAgreementKeys.map { Array($0.publicKey.rawRepresentation) } == [patient.agreementPublicKey],
                    "the backup keeps the handed-over agreement key: records wrapped to it still open")

            // Her consents: one, to the clinic, revoked; each signed by the browser's key.
            let consents = try fixture.access.patientConsents(patient.derivedID, as: identity, after: nil, limit: 10)["consents"] as? [JSONObject] ?? []
            #expect(consents.count == 1 && consents.first?["active"] as? Bool == false)
            #expect((consents.first?["grantee"] as? JSONObject)?["id"] as? String == fixture.clinic.derivedID.hex)

            // The browser's private keys never reached the server: in no request body, in no stored file.
            Self.expectNeverSent([opened.keys.signing.rawRepresentation, opened.keys.agreement.rawRepresentation].map { Array($0) },
                                 bodies: received.all, stored: fixture.directory)
            for name in ["patient-sign-in.png", "patient-custodial.png", "patient-in-control.png", "consents-granted.png", "consents-revoked.png",
                         "access-log.png", "consents-phone.png", "records-decrypted.png", "access-log-live.png", "records-phone.png",
                         "trials-withdrawn.png"] {
                #expect(FileManager.default.fileExists(atPath: BrowserTools.output.appendingPathComponent(name).path), "\(name)")
            }
        }
    }

    /// No request body and no file under `stored` holds any of `secrets` (raw, hex, base64 or base64url).
    static func expectNeverSent(_ secrets: [[UInt8]], bodies: [(path: String, body: [UInt8])], stored: URL,
                                sourceLocation: SourceLocation = #_sourceLocation) {
        let forms = secrets.flatMap { secret in
            [secret, Array(Hex.encode(secret).utf8), Array(Data(secret).base64EncodedString().utf8),
             Array(Data(secret).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "").utf8)]
        }
        #expect(bodies.contains { $0.path == "/v1/txs" }, "the browser's transactions went to POST /v1/txs", sourceLocation: sourceLocation)
        for (path, body) in bodies {
            for form in forms { #expect(!contains(body, form), "a request to \(path) carries a private key", sourceLocation: sourceLocation) }
        }
        let files = FileManager.default.enumerator(at: stored, includingPropertiesForKeys: nil)?.compactMap { $0 as? URL } ?? []
        #expect(files.count > 2, sourceLocation: sourceLocation)
        for file in files where (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
            let bytes = Array((try? Data(contentsOf: file)) ?? Data())
            for form in forms { #expect(!contains(bytes, form), "\(file.lastPathComponent) holds a private key", sourceLocation: sourceLocation) }
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in haystack[start..<(start + needle.count)].elementsEqual(needle) }
    }

    /// The server as `LedgerServer.withServerInProcess` runs it, behind a responder that records every request body.
    static func withRecordingServer<T>(_ fixture: PortalFixture, fhir: FHIRService? = nil, _ received: ReceivedBodies,
                                       _ body: (Int) async throws -> T) async throws -> T {
        var logger = Logger(label: "careledger.portal-patient-test")
        logger.logLevel = .critical
        let port = try LedgerServer.freePort(host: "127.0.0.1")
        let services = await fixture.services(publicURL: "http://127.0.0.1:\(port)", fhir: fhir)
        let responder = RecordingResponder(inner: LedgerServer.router(services).buildResponder(), received: received)
        let (ready, readySink) = AsyncStream.makeStream(of: Void.self)
        let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { _ in readySink.yield() }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger))
        let running = Task {
            defer { readySink.finish() }
            try await group.run()
        }
        var started = false
        for await _ in ready {
            started = true
            break
        }
        guard started else {
            try await running.value
            throw RecordingServerStopped()
        }
        do {
            let result = try await body(port)
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
    }
}
