public import Contracts
import Foundation
public import LedgerCore

/// Read models of trials (a public registry: protocol versions, endpoints, sites, counts, results
/// and outcome-switching flags) and of a participant's status (their parties only).
extension LedgerView {
    public func trial(_ id: String) throws(ServiceError) -> JSONObject {
        guard let trial = TrialIndex.trial(id, in: state) else { throw .notFound("no trial \(id.prefix(40))") }
        return Self.trialJSON(trial, results: TrialIndex.results(trial: id, in: state))
    }

    /// A patient's standing in a trial, for its parties; the decision is logged (`decide`) under
    /// the object id SHA-256 of the trial id.
    public func participant(_ patient: IdentityID, trial id: String, as requester: Identity) async throws(ServiceError) -> JSONObject {
        guard let trial = TrialIndex.trial(id, in: state) else { throw .notFound("no trial \(id.prefix(40))") }
        try await decide(requester, patient: patient, object: Hash256.sha256(Array(id.utf8)), purpose: .research,
                         allowed: { ReadRules.mayReadParticipant(patient, of: trial, $0, state) },
                         refusal: "only the patient, a delegate, the sponsor's or a site's staff read a participant")
        guard let participant = TrialIndex.participant(trial: id, patient: patient, in: state) else {
            throw .notFound("patient \(patient.hex) has no consent or enrollment in \(id)")
        }
        return Self.participantJSON(participant, trial: id)
    }

    /// A participant as `participant(_:trial:as:)` shows it (the caller has decided and logged).
    static func participantJSON(_ participant: TrialParticipant, trial id: String) -> JSONObject {
        [
            "trial": id, "patient": participant.patient.hex, "status": participant.status.rawValue,
            "consent_form_version": participant.consentFormVersion, "recruitment_contact": participant.recruitmentContact,
            "enrolled_site": participant.enrolledSite?.hex ?? NSNull(), "enrolled_height": participant.enrolledHeight.map { $0 as Any } ?? NSNull(),
            "withdrawn_height": participant.withdrawnHeight.map { $0 as Any } ?? NSNull(),
        ]
    }

    static func trialJSON(_ trial: Trial, results: [TrialResult]) -> JSONObject {
        [
            "id": trial.id, "sponsor": trial.sponsor.hex, "participants": trial.participantCount, "data_batches": trial.dataBatchCount,
            "height": trial.height,
            "versions": trial.versions.map { version -> JSONObject in
                ["version": version.version, "protocol_hash": version.protocolHash.hex, "consent_form_version": version.consentFormVersion,
                 "primary_endpoints": version.primaryEndpoints, "secondary_endpoints": version.secondaryEndpoints,
                 "sites": version.sites.map(\.hex), "reason": version.reason ?? NSNull(), "height": version.height]
            },
            "results": results.map { result -> JSONObject in
                var out: JSONObject = ["index": result.index, "primary_endpoints": result.primaryEndpoints, "results_hash": result.resultsHash.hex,
                                       "protocol_version": result.protocolVersion, "height": result.height, "flagged": result.isFlagged]
                if let flag = result.flag {
                    out["outcome_switching"] = ["added": flag.added, "dropped": flag.dropped, "never_registered": flag.neverRegistered]
                }
                return out
            },
        ]
    }
}
