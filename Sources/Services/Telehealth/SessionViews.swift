public import Contracts
import Foundation
public import LedgerCore

/// Read model of a telehealth session: its participants only.
extension LedgerView {
    /// The session, if `requester` takes part in it.
    public func participantSession(_ id: Hash256, as requester: Identity) throws(ServiceError) -> TelehealthSession {
        guard let session = TelehealthContract.session(id, in: state) else { throw .notFound("no session \(id.hex)") }
        guard ReadRules.isSessionParticipant(session, requester, state) else {
            throw .forbidden("only the session's clinician and patient (or a delegate) take part")
        }
        return session
    }

    /// A session's record (who, when, the transcript hash), for its participants; the decision is
    /// logged (`decide`).
    public func session(_ id: Hash256, as requester: Identity) async throws(ServiceError) -> JSONObject {
        guard let session = TelehealthContract.session(id, in: state) else { throw .notFound("no session \(id.hex)") }
        try await decide(requester, patient: session.patient, object: id, purpose: .treatment,
                         allowed: { ReadRules.isSessionParticipant(session, $0, state) },
                         refusal: "only the session's clinician and patient (or a delegate) take part")
        return Self.sessionJSON(session)
    }

    static func sessionJSON(_ session: TelehealthSession) -> JSONObject {
        [
            "id": session.id.hex, "clinician": session.clinician.hex, "organization": session.clinicianOrganization.hex,
            "patient": session.patient.hex, "consent_to_record": session.consentToRecord, "key_commitment": session.keyCommitment.hex,
            "start_ms": session.startMs, "status": session.status.rawValue, "opened_height": session.openedHeight,
            "end_ms": session.endMs.map { $0 as Any } ?? NSNull(), "transcript_hash": session.transcriptHash?.hex ?? NSNull(),
            "message_count": session.messageCount.map { $0 as Any } ?? NSNull(), "ended_height": session.endedHeight.map { $0 as Any } ?? NSNull(),
        ]
    }
}
