import Contracts
import LedgerCore
import Testing

/// The consortium policy (`Found.foundersDecide`): organizations are admitted and removed by a
/// majority of the founding organizations, never by one — else one organization could admit
/// organizations of its own and make up a finality quorum of attesters by itself.
@Suite("Consortium membership: a majority of the founders admits and removes organizations")
struct ConsortiumMembershipTests {
    typealias H = Harness
    static let founders = [H.keys(70), H.keys(71), H.keys(72)]
    static let newcomer = H.keys(73), other = H.keys(74), admitted = H.keys(75)

    /// Genesis of three founders, the first naming the policy (as `Genesis.make` does); and one
    /// organization the founders admitted (it is not a founder).
    static func consortium() -> Harness {
        var h = Harness()
        let found = founders.enumerated().map { index, keys in
            h.sign(keys, MembershipContract.Found(label: "f\(index)", organizationType: .hospital, agreementKey: keys.agreementPublicKey,
                                                  orderers: index == 0 ? [H.orderer.signingPublicKey] : nil,
                                                  foundersDecide: index == 0 ? true : nil))
        }
        precondition(h.run(found).allSatisfy(\.isAccepted))
        h.runAccepted([h.sign(founders[0], admit(admitted))], "first vote")
        h.runAccepted([h.sign(founders[1], admit(admitted))], "second vote")
        precondition(Directory.identity(admitted.derivedID, in: h.state) != nil)
        return h
    }

    static func admit(_ keys: IdentityKeys, label: String = "newcomer", type: OrganizationType = .laboratory) -> MembershipContract.AdmitOrganization {
        MembershipContract.AdmitOrganization(label: label, organizationType: type, signingKey: keys.signingPublicKey, agreementKey: keys.agreementPublicKey)
    }

    static func result(_ h: inout Harness, _ keys: IdentityKeys, _ call: some ContractMethod) -> TransactionResult {
        h.run([h.sign(keys, call)])[0]
    }

    @Test func oneFounderProposesAndTheAdmissionWaitsForAMajority() {
        var h = Self.consortium()
        #expect(Self.result(&h, Self.founders[0], Self.admit(Self.newcomer)).isAccepted)
        #expect(Directory.identity(Self.newcomer.derivedID, in: h.state) == nil, "one vote of three admits no one")
        // The same founder again; another founder with other arguments; a non-founder: none counts.
        #expect(Self.result(&h, Self.founders[0], Self.admit(Self.newcomer)).code == ResultCode.alreadyApproved.rawValue)
        #expect(Self.result(&h, Self.founders[1], Self.admit(Self.newcomer, label: "other label")).code == ResultCode.proposalConflict.rawValue)
        #expect(Self.result(&h, Self.admitted, Self.admit(Self.newcomer)).code == ResultCode.unauthorized.rawValue)
        #expect(Directory.identity(Self.newcomer.derivedID, in: h.state) == nil)
        // A second founder, same arguments: two of three is a majority.
        #expect(Self.result(&h, Self.founders[2], Self.admit(Self.newcomer)).isAccepted)
        let identity = Directory.identity(Self.newcomer.derivedID, in: h.state)
        #expect(identity?.kind == .organization && identity?.organizationType == .laboratory && identity?.revoked == false)
        // Admitted: a new vote about it is refused.
        #expect(Self.result(&h, Self.founders[1], Self.admit(Self.newcomer)).code == ResultCode.alreadyRegistered.rawValue)
    }

    @Test func anAdmittedOrganizationCannotAdmitOthersAlone() {
        var h = Self.consortium()
        // Without the policy one organization could admit a sock puppet (and then attest with it).
        #expect(Self.result(&h, Self.admitted, Self.admit(Self.other)).code == ResultCode.unauthorized.rawValue)
        #expect(Directory.identity(Self.other.derivedID, in: h.state) == nil)
    }

    @Test func aMajorityOfTheFoundersRemovesAnOrganization() {
        var h = Self.consortium()
        let remove = MembershipContract.RemoveOrganization(organization: Self.admitted.derivedID)
        #expect(Self.result(&h, Self.founders[2], remove).isAccepted)
        #expect(Directory.identity(Self.admitted.derivedID, in: h.state)?.revoked == false)
        #expect(Self.result(&h, Self.admitted, MembershipContract.RemoveOrganization(organization: Self.founders[0].derivedID)).code
                == ResultCode.unauthorized.rawValue)
        #expect(Self.result(&h, Self.founders[0], remove).isAccepted)
        #expect(Directory.identity(Self.admitted.derivedID, in: h.state)?.revoked == true)
        // Removed: it signs nothing more.
        #expect(Self.result(&h, Self.admitted, Self.admit(Self.other)).code == ResultCode.senderRevoked.rawValue)
        #expect(Self.result(&h, Self.founders[1], remove).code == ResultCode.alreadyRevoked.rawValue)
    }

    @Test func aRemovedFounderNoLongerVotes() {
        var h = Self.consortium()
        let removeFounder = MembershipContract.RemoveOrganization(organization: Self.founders[2].derivedID)
        h.runAccepted([h.sign(Self.founders[0], removeFounder)], "vote 1")
        h.runAccepted([h.sign(Self.founders[1], removeFounder)], "vote 2")
        #expect(Directory.identity(Self.founders[2].derivedID, in: h.state)?.revoked == true)
        // Founder 0 votes, then the removed founder cannot: its signatures no longer count.
        #expect(Self.result(&h, Self.founders[0], Self.admit(Self.newcomer)).isAccepted)
        #expect(Self.result(&h, Self.founders[2], Self.admit(Self.newcomer)).code == ResultCode.senderRevoked.rawValue)
        #expect(Directory.identity(Self.newcomer.derivedID, in: h.state) == nil, "one live vote of three founders is no majority")
        #expect(Self.result(&h, Self.founders[1], Self.admit(Self.newcomer)).isAccepted)
        #expect(Directory.identity(Self.newcomer.derivedID, in: h.state) != nil)
    }

    @Test func withoutThePolicyOneOrganizationAdmitsAndNoneRemoves() {
        var h = Harness.standard()
        #expect(Self.result(&h, H.hospital, Self.admit(Self.newcomer)).isAccepted)
        #expect(Directory.identity(Self.newcomer.derivedID, in: h.state) != nil, "a single-node chain keeps its old rule")
        let remove = MembershipContract.RemoveOrganization(organization: Self.newcomer.derivedID)
        #expect(Self.result(&h, H.hospital, remove).code == ResultCode.unauthorized.rawValue)
    }
}
