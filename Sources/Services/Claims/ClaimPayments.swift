public import Contracts
public import LedgerCore
import Node

extension LedgerClient {
    /// Records the payer's payment against a claim: `claims.pay`, on a consortium a private call to
    /// the claim's provider and payer (a payment tells what the patient was treated for). `amountMinor` nil
    /// pays everything still owed. Returns the claim as it stands after the payment.
    public func payClaim(_ id: Hash256, amountMinor: Int64?, reference: Hash256, signer: IdentityKeys) async throws -> ClaimEntry {
        guard let entry = ClaimsContract.claim(id, in: node.state) else { throw ServiceError.notFound("no claim \(id.hex)") }
        guard let organizations = ClaimsContract.claimOrganizations(provider: entry.provider, plan: entry.plan, in: node.state) else {
            throw ServiceError.notFound("no plan \(entry.plan)")
        }
        let pay = ClaimsContract.Pay(claim: id, amount: amountMinor ?? (entry.payerMinor - entry.paidMinor), reference: reference)
        try await commit([call(signer, privateOnConsortium: pay, for: organizations)])
        guard let paid = ClaimsContract.claim(id, in: node.state) else { throw ServiceError(.unavailable, "the paid claim is not in state") }
        return paid
    }
}
