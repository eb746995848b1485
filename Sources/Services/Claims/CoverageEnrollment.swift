public import Contracts
public import LedgerCore
import Node

/// A payer enrolling a patient: it issues a random member id (what the patient's insurance card
/// carries) and tells the chain only the member key, so no other organization learns which
/// patient holds which coverage. The patient's providers put the member id in their claims.
public struct CoverageEnrollment: Sendable {
    /// The member id to give the patient (hex on the card, `ClaimMapping.memberIdentifier` in FHIR).
    public let memberID: Hash256
    /// The `claims.enroll` call to sign as the payer (or its payer agent).
    public let call: ClaimsContract.Enroll

    /// An enrollment of `patient` under `plan` for [startMs, endMs); `memberID` nil issues a new one
    /// (a renewal passes the patient's existing member id, so its coverage periods stay one member's).
    public init(plan: String, patient: IdentityID, startMs: Int64, endMs: Int64, memberID: Hash256? = nil) {
        var generator = SystemRandomNumberGenerator()
        let memberID = memberID ?? Hash256(bytes: (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) })!
        self.memberID = memberID
        call = ClaimsContract.Enroll(plan: plan, member: ClaimsContract.memberKey(patient: patient, memberID: memberID),
                                     startMs: startMs, endMs: endMs)
    }
}

extension LedgerClient {
    /// Enrolls `patient` under `plan` signed by `signer` (the payer or its payer agent); returns the
    /// member id to hand the patient and the coverage id (the enrolling transaction's).
    public func enroll(_ patient: IdentityID, plan: String, startMs: Int64, endMs: Int64, memberID: Hash256? = nil,
                       signer: IdentityKeys) async throws -> (memberID: Hash256, coverage: Hash256, height: UInt64) {
        let enrollment = CoverageEnrollment(plan: plan, patient: patient, startMs: startMs, endMs: endMs, memberID: memberID)
        let receipt = try await commit(sign(signer, enrollment.call))
        return (enrollment.memberID, receipt.status.transactionID, receipt.status.height)
    }
}
