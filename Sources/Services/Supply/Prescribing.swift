public import Contracts
public import LedgerCore
public import Node

extension LedgerClient {
    /// `rx.issue` as every adapter issues it (the CLI's `careledger rx issue`, the portal's
    /// prescribe form): the call's own checks first (the contract's `validate`, so a bad GTIN,
    /// quantity, refill count or pharmacy list is refused before anything is signed, with the
    /// contract's message), then signed by the prescriber and committed; the contract decides the
    /// rest (prescriber role and organization, patient, product, expiry window, pharmacies).
    /// Returns the receipt (the prescription id is the transaction id) and the prescription as committed.
    public func issuePrescription(_ issue: PrescriptionContract.Issue, as prescriber: IdentityKeys,
                                  sender: IdentityID? = nil) async throws -> (receipt: CommitReceipt, prescription: PrescriptionView?) {
        do throws(Rejection) { try issue.validate() } catch { throw ServiceError(error.message) }
        let receipt = try await commit(UnsignedCall(prescriber, sender: sender, call: issue))
        return (receipt, PrescriptionContract.prescription(receipt.status.transactionID, in: node.state))
    }
}
