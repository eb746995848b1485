import Contracts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
@testable import Portal
import Server
import Services
import Storage
import Testing
import Vault

/// The patient's records page, her access log's sealed justifications and the portal's event
/// stream, in process: each answers what the service `/v1` uses answers, to the patient alone.
@Suite("Portal: a patient's records, access log and event stream", .serialized)
struct PortalPatientRouteTests {
    static let content = Array(#"{"resourceType":"Observation","status":"final","code":{"text":"<b>glucose</b>"}}"#.utf8)

    /// A patient registered with keys made here, and a record of hers at the hospital.
    static func patientWithRecord(_ fixture: PortalFixture, seed: UInt8) async throws -> (IdentityKeys, Hash256) {
        let node = fixture.node
        let patient = IdentityKeys(seed: Array(repeating: seed, count: 32))
        _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
            chainId: PortalFixture.chainId, sender: patient.derivedID, publicKey: patient.signingPublicKey, sequence: 1,
            call: MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)), with: patient), timeoutMs: 60_000)
        let record = Hash256.sha256(Array("portal patient route record \(seed)".utf8))
        let prepared = try fixture.access.prepare(content: content, record: record, version: 1, patient: patient.derivedID,
                                                  custodian: fixture.hospital.derivedID)
        try fixture.access.store(prepared.version)
        _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
            chainId: PortalFixture.chainId, sender: fixture.hospital.derivedID, publicKey: fixture.hospital.signingPublicKey,
            sequence: BlockExecutor.lastSequence(of: fixture.hospital.derivedID, in: node.state) + 1,
            call: RecordsContract.Register(record: record, patient: patient.derivedID, resourceType: "Observation", category: .mentalHealth,
                                           ciphertextHash: prepared.version.blob.hash, version: 1)), with: fixture.hospital), timeoutMs: 60_000)
        return (patient, record)
    }

    /// Signs `call` with `keys` at their next sequence number and waits for it; it must be accepted.
    static func commit(_ fixture: PortalFixture, _ keys: IdentityKeys, _ call: some ContractMethod) async throws {
        let receipt = try await fixture.node.submitAndWait(Transaction.sign(TransactionBody(
            chainId: PortalFixture.chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
            sequence: BlockExecutor.lastSequence(of: keys.derivedID, in: fixture.node.state) + 1, call: call), with: keys), timeoutMs: 60_000)
        #expect(receipt.status.result.isAccepted, "\(type(of: call).contract).\(type(of: call).methodName): \(receipt.status.result.message)")
    }

    /// A sponsor organization (admitted by both founders), its trial `trial` at the hospital, and
    /// the patient's consent to it, signed with `patient`.
    static func trialConsented(_ fixture: PortalFixture, patient: IdentityKeys, trial: String) async throws {
        let sponsor = IdentityKeys(seed: Array(repeating: 47, count: 32))
        for founder in [fixture.hospital, fixture.clinic] where Directory.identity(sponsor.derivedID, in: fixture.node.state) == nil {
            do {
                try await commit(fixture, founder, MembershipContract.AdmitOrganization(
                    label: "Trialworks <Sponsor>", organizationType: .sponsor, signingKey: sponsor.signingPublicKey, agreementKey: sponsor.agreementPublicKey))
            }
        }
        try await commit(fixture, sponsor, TrialsContract.Register(trial: trial, protocolHash: Hash256.sha256(Array(trial.utf8)), consentFormVersion: 1,
                                                                   primaryEndpoints: ["HbA1c"], secondaryEndpoints: ["weight"], sites: [fixture.hospital.derivedID]))
        try await commit(fixture, patient, TrialsContract.Consent(trial: trial, patient: patient.derivedID, consentFormVersion: 1, recruitmentContact: true))
    }

    @Test(.timeLimit(.minutes(3)))
    func claimsPrescriptionsAndTrialsAreListedForHerAlone() async throws {
        try await PortalRouteTests.withPortal { fixture, browser in
            let (patient, _) = try await Self.patientWithRecord(fixture, seed: 85)
            try await Self.trialConsented(fixture, patient: patient, trial: "CARDIO-7")
            let identity = try #require(Directory.identity(patient.derivedID, in: fixture.node.state))
            let auditor = try #require(Directory.identity(fixture.auditor.derivedID, in: fixture.node.state))
            do throws(ServiceError) {
                _ = try await fixture.access.patientTrials(patient.derivedID, as: auditor)
                Issue.record("staff list no patient's trials")
            } catch { #expect(error.kind == .forbidden) }
            let before = try fixture.access.auditSize()
            let trials = try await fixture.access.patientTrials(patient.derivedID, as: identity)
            let listed = try #require(trials["trials"] as? [JSONObject])
            #expect(listed.count == 1 && listed.first?["trial"] as? String == "CARDIO-7" && listed.first?["status"] as? String == "consented")
            #expect(try fixture.access.auditSize() == before + 1, "the participation shown is logged")
            #expect((try await fixture.access.patientClaims(patient.derivedID, as: identity)["claims"] as? [JSONObject])?.isEmpty == true)
            #expect((try await fixture.access.patientPrescriptions(patient.derivedID, as: identity))["complete"] as? Bool == true)

            _ = try await browser.signIn(patient, name: "patient")
            let page = try await browser.get("/portal/patient/trials")
            #expect(page.status == .ok, "\(page.body.prefix(1_000))")
            #expect(page.body.contains("data-trial=\"CARDIO-7\"") && page.body.contains("Trialworks &lt;Sponsor&gt;") && page.body.contains("button type=\"button\" class=\"secondary withdraw\""))
            let claims = try await browser.get("/portal/patient/claims")
            #expect(claims.status == .ok && claims.body.contains("id=\"no-claims\"") && claims.body.contains("id=\"no-prescriptions\""))
            #expect(PatientRoutes.money(123_456, "USD") == "1234.56 USD" && PatientRoutes.money(-5, "EUR") == "-0.05 EUR")

            // Withdrawn (as the browser signs it): listed as withdrawn, and no withdraw button.
            try await Self.commit(fixture, patient, TrialsContract.Withdraw(trial: "CARDIO-7", patient: patient.derivedID))
            let after = try await browser.get("/portal/patient/trials")
            #expect(after.body.contains("id=\"no-trials\"") && after.body.contains("withdrawn at block") && !after.body.contains("class=\"secondary withdraw\""))
            #expect(try await browser.get("/portal/patient/claims").status == .ok)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func theRecordsPageListsHerRecordsAndTheReleaseOpensWithHerKeyAlone() async throws {
        try await PortalRouteTests.withPortal { fixture, browser in
            let (patient, record) = try await Self.patientWithRecord(fixture, seed: 81)
            #expect(try await browser.get("/portal/patient/records").status == .unauthorized)
            _ = try await browser.signIn(fixture.auditor)
            #expect(try await browser.get("/portal/patient/records").status == .forbidden, "staff have no records page")
            browser.cookie = nil

            _ = try await browser.signIn(patient, name: "patient")
            let page = try await browser.get("/portal/patient/records")
            #expect(page.status == .ok, "\(page.body.prefix(1_000))")
            let listed = try await fixture.access.patientRecords(patient.derivedID, as: try #require(Directory.identity(patient.derivedID, in: fixture.node.state)),
                                                           after: nil, limit: 10)["records"] as? [JSONObject] ?? []
            #expect(listed.count == 1 && page.body.contains("data-record=\"\(record.hex)\""), "the page lists what the service lists")
            #expect(page.body.contains("Observation") && page.body.contains("Mental health") && page.body.contains("General Hospital"))
            #expect(page.body.contains("/static/patient.js") && page.body.contains("id=\"decrypter-status\""))
            #expect(!page.body.contains("glucose"), "the server shows no content: the browser decrypts it")
            #expect(!page.body.contains("style=") && !page.body.contains("<script>"))
            for asset in ["record-crypto.js", "record-vectors.json"] {
                #expect(try await browser.get("/portal/static/\(asset)").status == .ok, "\(asset)")
            }

            // What the browser does: a token by client assertion, the release from /v1, opened with her key.
            let tokenURL = try #require(page.field("token-url"))
            let answer = try await browser.post("/auth/token", form: [
                "grant_type": "client_credentials", "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": browserAssertion(patient, tokenURL: tokenURL, jti: UUID().uuidString),
            ])
            let token = try #require((try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])?["access_token"] as? String,
                                     "\(answer.body)")
            let release = try await browser.request(.get, "/v1/records/\(record.hex)/release?purpose=TREAT", headers: [.authorization: "Bearer \(token)"])
            #expect(release.status == .ok, "\(release.body)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(release.body.utf8)) as? [String: Any])
            let entry = try #require(json["record"] as? [String: Any])
            #expect(entry["record"] as? String == record.hex && entry["version"] as? Int == 1)
            let wrapped = try WrappedKey(bytes: Array(try #require(Data(base64Encoded: json["wrapped_key"] as? String ?? ""))))
            let sealed = try SealedRecord(bytes: Array(try #require(Data(base64Encoded: json["sealed_record"] as? String ?? ""))))
            let key = try KeyWrap.unwrap(wrapped, with: patient.agreement, context: WrapContext(record: record, version: 1, recipient: patient.derivedID))
            #expect(try RecordCipher.open(sealed, with: key, record: record, version: 1) == Self.content)
            #expect((try? KeyWrap.unwrap(wrapped, with: fixture.clinician.agreement,
                                         context: WrapContext(record: record, version: 1, recipient: patient.derivedID))) == nil)
            // Her read is in her access log, as anyone's.
            let log = try fixture.access.accessLog(patient: patient.derivedID)
            #expect(log.last?.entry.reason == .patientSelf && log.last?.entry.requester == patient.derivedID)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func theAccessLogCarriesSealedJustificationsAndWhereTheStreamStarts() async throws {
        try await PortalRouteTests.withPortal { fixture, browser in
            let (patient, record) = try await Self.patientWithRecord(fixture, seed: 82)
            let emergency = IdentityKeys(seed: Array(repeating: 46, count: 32))
            let node = fixture.node
            _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
                chainId: PortalFixture.chainId, sender: fixture.clinic.derivedID, publicKey: fixture.clinic.signingPublicKey,
                sequence: BlockExecutor.lastSequence(of: fixture.clinic.derivedID, in: node.state) + 1,
                call: MembershipContract.Enroll(label: "Emergency & <Co>", roles: [.emergencyClinician], signingKey: emergency.signingPublicKey,
                                                agreementKey: emergency.agreementPublicKey)), with: fixture.clinic), timeoutMs: 60_000)
            let sealed = try SealedNote.seal("collapsed in the street", to: patient.derivedID, agreementKey: patient.agreementPublicKey)
            _ = try await node.submitAndWait(Transaction.sign(TransactionBody(
                chainId: PortalFixture.chainId, sender: emergency.derivedID, publicKey: emergency.signingPublicKey, sequence: 1,
                call: ConsentContract.BreakGlass(patient: patient.derivedID, record: record, reason: .unconscious,
                                                 justificationHash: Hash256.sha256(sealed), minutes: 30)), with: emergency), timeoutMs: 60_000)
            _ = try await fixture.access.read(AccessRequest(requester: emergency.derivedID, record: record, purpose: .emergencyTreatment, action: .read),
                                              sealedJustification: sealed)

            _ = try await browser.signIn(patient, name: "patient")
            let page = try await browser.get("/portal/patient/access-log")
            #expect(page.status == .ok)
            #expect(page.body.contains("data-sealed=\"\(Data(sealed).base64EncodedString())\""), "the sealed justification, for the browser to open")
            #expect(!page.body.contains("collapsed in the street"), "the server never shows it in clear")
            #expect(page.body.contains("Emergency &amp; &lt;Co&gt;") && page.body.contains("data-outcome=\"break-glass\""))
            let from = try #require(page.field("events-from"))
            let position = try #require(LedgerEvents.position(from))
            let auditSize = try fixture.access.auditSize()
            let logSize = await node.headHeader.logSize
            #expect(position.audit == auditSize && position.log == logSize)
        }
    }

    /// A long access log: the newest entries first, 200 a page, and "Older entries" pages back to the
    /// first one; only the newest page follows new entries.
    @Test(.timeLimit(.minutes(3)))
    func theAccessLogShowsTheNewestFirstAndPagesBack() async throws {
        try await PortalRouteTests.withPortal { fixture, browser in
            let (patient, record) = try await Self.patientWithRecord(fixture, seed: 84)
            for _ in 0..<449 {
                _ = try? await fixture.access.read(AccessRequest(requester: fixture.clinician.derivedID, record: record, purpose: .treatment, action: .read))
            }
            let all = try fixture.access.accessLog(patient: patient.derivedID, limit: 1_000).map(\.index)
            #expect(all.count == 449)
            _ = try await browser.signIn(patient, name: "patient")
            var shown: [[UInt64]] = []
            var uri: String? = "/portal/patient/access-log"
            while let next = uri, shown.count < 5 {
                let page = try await browser.get(next)
                #expect(page.status == .ok)
                shown.append(page.body.matches(of: /data-index="([0-9]+)"/).compactMap { UInt64($0.output.1) })
                #expect(page.body.contains("id=\"live-status\"") == (shown.count == 1), "only the newest page is live")
                #expect(page.body.contains("data-events-from=") == (shown.count == 1))
                uri = page.body.firstMatch(of: /href="(\/portal\/patient\/access-log\?before=[0-9]+)" id="older-entries"/).map { String($0.output.1) }
            }
            #expect(shown.map(\.count) == [200, 200, 49])
            #expect(shown.flatMap { $0 } == all.reversed(), "newest first, every entry once")
            #expect(try await browser.get("/portal/patient/access-log?before=x").status == .badRequest)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func theEventStreamIsTheSessionsOwnAndFiltered() async throws {
        try await PortalFixture.with { fixture in
            let services = await fixture.services(publicURL: PortalRouteTests.publicURL)
            try await LedgerServer.application(services, port: 0).test(.router) { client in
                var browser = PortalBrowser(client: client)
                let (patient, record) = try await Self.patientWithRecord(fixture, seed: 83)
                let (_, other) = try await Self.patientWithRecord(fixture, seed: 84)
                let anonymous = try await browser.get("/portal/events")
                #expect(anonymous.status == .unauthorized && anonymous.headers[.contentType]?.hasPrefix("text/html") == true)

                _ = try await browser.signIn(patient, name: "patient")
                #expect(try await browser.get("/portal/events?max_events=0").status == .badRequest)
                let cookie = try #require(browser.cookie)
                // From the position now: the reads below are in the stream however late it starts.
                let from = "\(await fixture.node.headHeader.logSize).\(try fixture.access.auditSize())"
                async let watched = client.execute(uri: "/portal/events?max_events=1&seconds=30&from=\(from)", method: .get,
                                                   headers: [.cookie: "careledger_portal=\(cookie)"]) { response in
                    (response.status, response.headers, String(buffer: response.body))
                }
                try await Task.sleep(for: .milliseconds(300))
                // Another patient's record read first (not hers to see), then hers.
                for target in [other, record] {
                    _ = try? await fixture.access.read(AccessRequest(requester: fixture.clinician.derivedID, record: target, purpose: .treatment, action: .read))
                }
                let (status, headers, body) = try await watched
                #expect(status == .ok && headers[.contentType] == "text/event-stream" && headers[.contentSecurityPolicy] != nil)
                let events = body.components(separatedBy: "\n\n").filter { $0.contains("event: ") }
                #expect(events.count == 1, "\(body)")
                let data = try #require(events.first?.split(separator: "\n").first { $0.hasPrefix("data: ") }?.dropFirst(6))
                let event = try #require(try JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any])
                #expect(events.first?.contains("event: access") == true)
                #expect(event["record"] as? String == record.hex && event["patient"] as? String == patient.derivedID.hex && event["outcome"] as? String == "deny")
                #expect(event["requester_label"] as? String == "Dr. <Cleo> & Co")
            }
        }
    }
}
