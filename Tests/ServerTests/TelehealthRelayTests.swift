import Contracts
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Testing
import Vault

/// An end-to-end encrypted telehealth session over the node: the session key is HPKE-wrapped to
/// both parties, the node relays only ciphertext to participants, and the transcript hash both
/// sides compute is what the chain anchors.
@Suite("Telehealth relay and contract routes", .serialized)
struct TelehealthRelayTests {
    static let patient = IdentityKeys(seed: Array(repeating: 31, count: 32))
    static let outsider = IdentityKeys(seed: Array(repeating: 32, count: 32))

    static func sign(_ fixture: ServerFixture, _ keys: IdentityKeys, _ call: some ContractMethod) async throws {
        _ = try await submit(fixture.node, chainId: ServerFixture.chainId, keys, call)
    }

    /// Signs with the sender's next sequence number, commits, expects acceptance; returns the transaction id.
    static func submit(_ node: LedgerNode, chainId: String, _ keys: IdentityKeys, _ call: some ContractMethod) async throws -> Hash256 {
        let sequence = BlockExecutor.lastSequence(of: keys.derivedID, in: node.state) + 1
        let tx = Transaction.sign(TransactionBody(chainId: chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey,
                                                  sequence: sequence, call: call), with: keys)
        let receipt = try await node.submitAndWait(tx, timeoutMs: 60_000)
        #expect(receipt.status.result.isAccepted, "\(type(of: call).methodName): \(receipt.status.result.message)")
        return tx.id
    }

    static func post(_ client: some TestClientProtocol, _ bearer: String, _ uri: String, _ body: [String: Any]) async throws
        -> (HTTPResponse.Status, [String: Any]) {
        try await client.execute(uri: uri, method: .post, headers: [.authorization: "Bearer \(bearer)", .contentType: "application/json"],
                                 body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body))) { ($0.status, object($0.body)) }
    }

    static func get(_ client: some TestClientProtocol, _ bearer: String, _ uri: String) async throws -> (HTTPResponse.Status, [String: Any], String) {
        try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(bearer)"]) {
            ($0.status, object($0.body), String(buffer: $0.body))
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func endToEndEncryptedSessionRelayedAndAnchored() async throws {
        // Over a real socket: the whole telehealth flow end to end, as a client on the network runs it.
        try await ServerFixture.with { fixture in try await fixture.application.test(.live) { client in
            try await Self.sign(fixture, Self.patient, MembershipContract.RegisterPatient(agreementKey: Self.patient.agreementPublicKey))
            try await Self.sign(fixture, fixture.hospital, MembershipContract.Enroll(
                label: "dr-b", roles: [.clinician], signingKey: Self.outsider.signingPublicKey, agreementKey: Self.outsider.agreementPublicKey))

            // The clinician's client: a fresh session key, wrapped to both parties, committed on-chain.
            let session = Hash256(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })!
            let key = SessionCipher.generateKey()
            let doctorID = fixture.clinician.derivedID, patientID = Self.patient.derivedID
            let copies = [(recipient: doctorID, wrapped: try SessionCipher.wrap(key, to: fixture.clinician.agreementPublicKey, session: session, recipient: doctorID)),
                          (recipient: patientID, wrapped: try SessionCipher.wrap(key, to: Self.patient.agreementPublicKey, session: session, recipient: patientID))]
            let start = max(Int64(Date().timeIntervalSince1970 * 1_000), await fixture.node.headHeader.timeMs)
            try await Self.sign(fixture, fixture.clinician, TelehealthContract.Open(
                session: session, patient: patientID, consentToRecord: true,
                keyCommitment: SessionCipher.keyCommitment(session: session, copies: copies), startMs: start))
            try await Self.sign(fixture, Self.patient, TelehealthContract.Join(session: session))

            let doctorToken = try await token(client, for: fixture.clinician)
            let patientToken = try await token(client, for: Self.patient)
            let outsiderToken = try await token(client, for: Self.outsider)
            let path = "/v1/telehealth/sessions/\(session.hex)"

            var doctor = SessionChannel(key: key, session: session, me: doctorID, peer: patientID)
            let secret = "BP 150/95 — increase lisinopril to 20 mg"
            let sealed = try doctor.seal(Array(secret.utf8))
            let posted = try await Self.post(client, doctorToken, "\(path)/messages", ["sequence": 0, "sealed": Data(sealed.bytes).base64EncodedString()])
            #expect(posted.0 == .created, "\(posted.1)")
            let replayed = try await Self.post(client, doctorToken, "\(path)/messages", ["sequence": 0, "sealed": Data(sealed.bytes).base64EncodedString()])
            #expect(replayed.0 == .conflict, "a sender's sequence numbers only go up")

            // The patient unwraps their copy of the key and reads; the relay only ever held ciphertext.
            let fetched = try await Self.get(client, patientToken, "\(path)/messages?after=-1")
            #expect(fetched.0 == .ok && !fetched.2.contains("lisinopril"))
            let message = try #require((fetched.1["messages"] as? [[String: Any]])?.first)
            let patientKey = try SessionCipher.unwrap(copies[1].wrapped, with: Self.patient.agreement, session: session, recipient: patientID)
            var patient = SessionChannel(key: patientKey, session: session, me: patientID, peer: doctorID)
            let received = try patient.open(try SealedSessionMessage(bytes: Array(try #require(Data(base64Encoded: message["sealed"] as? String ?? "")))))
            #expect(String(decoding: received, as: UTF8.self) == secret)
            let reply = try patient.seal(Array("Understood, thank you.".utf8))
            #expect(try await Self.post(client, patientToken, "\(path)/messages", ["sequence": 0, "sealed": Data(reply.bytes).base64EncodedString()]).0 == .created)
            let back = try await Self.get(client, doctorToken, "\(path)/messages?after=0")
            let replyMessage = try #require((back.1["messages"] as? [[String: Any]])?.first)
            _ = try doctor.open(try SealedSessionMessage(bytes: Array(try #require(Data(base64Encoded: replyMessage["sealed"] as? String ?? "")))))

            // Outsiders see nothing; an outsider's key does not open the wrapped copies either.
            #expect(try await Self.get(client, outsiderToken, "\(path)/messages").0 == .forbidden)
            #expect(try await Self.get(client, outsiderToken, path).0 == .forbidden)
            #expect(throws: VaultError.self) { try SessionCipher.unwrap(copies[1].wrapped, with: Self.outsider.agreement, session: session, recipient: patientID) }

            // Both sides reached the same transcript; the chain anchors it and the relay stops.
            #expect(doctor.transcript.hash == patient.transcript.hash)
            let end = max(Int64(Date().timeIntervalSince1970 * 1_000), await fixture.node.headHeader.timeMs)
            try await Self.sign(fixture, fixture.clinician, TelehealthContract.End(
                session: session, transcriptHash: doctor.transcript.hash, messageCount: Int64(doctor.transcript.messageCount), endMs: end))
            let anchored = try await Self.get(client, patientToken, path)
            #expect(anchored.1["status"] as? String == "ended")
            #expect(anchored.1["transcript_hash"] as? String == patient.transcript.hash.hex)
            #expect(anchored.1["message_count"] as? Int == 2)
            let late = try await Self.post(client, doctorToken, "\(path)/messages", ["sequence": 1, "sealed": Data(sealed.bytes).base64EncodedString()])
            #expect(late.0 == .conflict)
        } }
    }
}
