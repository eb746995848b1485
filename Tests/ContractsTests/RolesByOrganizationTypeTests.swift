import Contracts
import LedgerCore
import Testing

/// The rule table of docs/security.md, "Roles by organization type", written out once more: the
/// contract's table must be exactly this one, and `enroll` and `setRoles` must follow it for every
/// (organization type, role) pair. The security finding it fixes: RoleFindingRegressionTests.
@Suite("Roles by organization type")
struct RolesByOrganizationTypeTests {
    static let everywhere: Set<Role> = [.admin, .auditor, .integration]
    static let table: [OrganizationType: Set<Role>] = [
        .hospital: everywhere.union([.clinician, .emergencyClinician, .nurse, .pharmacist, .researcher, .supplyChain, .privacyOfficer]),
        .clinic: everywhere.union([.clinician, .emergencyClinician, .nurse, .researcher, .privacyOfficer]),
        .laboratory: everywhere.union([.clinician, .researcher, .privacyOfficer]),
        .pharmacy: everywhere.union([.pharmacist, .supplyChain]),
        .payer: everywhere.union([.payerAgent]),
        .manufacturer: everywhere.union([.supplyChain]),
        .distributor: everywhere.union([.supplyChain]),
        .regulator: everywhere.union([.supplyChain]),
        .sponsor: everywhere.union([.researcher]),
        .operator: everywhere,
    ]

    static let organization = Harness.keys(200), member = Harness.keys(201), newcomer = Harness.keys(202)

    /// The harness chain plus an organization of `type`, admitted by the hospital, with one member
    /// holding only `admin` (which every type may give).
    static func world(_ type: OrganizationType) -> Harness {
        var h = Harness.standard()
        h.runAccepted([h.admitOrg(organization, type.rawValue)], "organization")
        h.runAccepted([h.enroll(member, by: organization, roles: ["admin"])], "member")
        return h
    }

    @Test func theContractsTableIsTheDocumentedOne() {
        #expect(Self.table.count == OrganizationType.allCases.count)
        for type in OrganizationType.allCases {
            #expect(MembershipContract.allowedRoles(for: type) == Self.table[type], "\(type.rawValue)")
        }
    }

    /// Break-glass is for emergency clinicians of care-providing organizations: the table gives
    /// that role at hospitals and clinics only, and no other type may give it.
    @Test func onlyCareProvidersGiveTheEmergencyClinicianRole() {
        #expect(MembershipContract.careProviderTypes == [.hospital, .clinic])
        for type in OrganizationType.allCases {
            #expect(MembershipContract.allowedRoles(for: type).contains(.emergencyClinician) == MembershipContract.careProviderTypes.contains(type),
                    "\(type.rawValue)")
        }
    }

    /// Every pair: `enroll` of a new member with the role, and `setRoles` of an existing member to
    /// [admin, role], are accepted where the table allows the role and otherwise refused with
    /// `roleNotAllowed`, naming role and type, changing nothing but the sender's sequence.
    @Test(arguments: OrganizationType.allCases, Role.allCases)
    func enrollAndSetRolesFollowTheTable(type: OrganizationType, role: Role) throws {
        let allowed = try #require(Self.table[type]).contains(role)
        var h = Self.world(type)
        let sequenceKey = Harness.sequenceKey(Self.organization.derivedID)

        var before = h.state.values
        let enrolled = h.run([h.enroll(Self.newcomer, by: Self.organization, roles: [role.rawValue])])[0]
        let newcomer = Directory.identity(Self.newcomer.derivedID, in: h.state)
        if allowed {
            #expect(enrolled.isAccepted, "enroll \(role.rawValue) at a \(type.rawValue): \(enrolled.message)")
            #expect(newcomer?.roles == [role])
        } else {
            #expect(enrolled.code == ResultCode.roleNotAllowed.rawValue, "enroll \(role.rawValue) at a \(type.rawValue): \(enrolled.message)")
            #expect(enrolled.message.contains(role.rawValue) && enrolled.message.contains(type.rawValue), "\(enrolled.message)")
            #expect(h.changedKeys(since: before) == [sequenceKey])
            #expect(newcomer == nil)
        }

        before = h.state.values
        let set = h.sign(Self.organization, MembershipContract.SetRoles(member: Self.member.derivedID, roles: [.admin, role]))
        let changed = h.run([set])[0]
        let member = try #require(Directory.identity(Self.member.derivedID, in: h.state))
        if allowed {
            #expect(changed.isAccepted, "setRoles \(role.rawValue) at a \(type.rawValue): \(changed.message)")
            #expect(Set(member.roles) == [.admin, role])
        } else {
            #expect(changed.code == ResultCode.roleNotAllowed.rawValue, "setRoles \(role.rawValue) at a \(type.rawValue): \(changed.message)")
            #expect(h.changedKeys(since: before) == [sequenceKey])
            #expect(member.roles == [.admin])
        }
    }

    /// What a role given before the table counts for: only what the type allows; the stored
    /// roles are left as written; `setRoles` to allowed roles repairs the member.
    @Test func effectiveRolesOfAMemberFromAnOlderChain() throws {
        var h = Self.world(.distributor)
        h.giveLegacyRoles([.supplyChain, .clinician, .emergencyClinician, .pharmacist], to: Self.member)
        let member = try #require(Directory.identity(Self.member.derivedID, in: h.state))
        #expect(member.roles == [.clinician, .emergencyClinician, .pharmacist, .supplyChain])
        #expect(Directory.effectiveRoles(of: member, in: h.state) == [.supplyChain])
        #expect(Directory.organizationType(of: member, in: h.state) == .distributor)
        #expect(!ConsentPolicy.mayBreakGlass(member, organizationType: .distributor))

        let repair = h.sign(Self.organization, MembershipContract.SetRoles(member: Self.member.derivedID, roles: [.supplyChain]))
        #expect(h.run([repair])[0].isAccepted)
        #expect(Directory.identity(Self.member.derivedID, in: h.state)?.roles == [.supplyChain])
    }

    /// Roles count only for an active member of a typed organization.
    @Test func effectiveRolesNeedAnActiveMemberOfAnOrganization() throws {
        var h = Harness.standard()
        let doctor = try #require(Directory.identity(Harness.doctor.derivedID, in: h.state))
        #expect(Directory.effectiveRoles(of: doctor, in: h.state) == [.clinician])
        let patient = try #require(Directory.identity(Harness.patientID, in: h.state))
        #expect(Directory.effectiveRoles(of: patient, in: h.state).isEmpty)
        h.runAccepted([h.revokeMember(Harness.doctor, by: Harness.hospital)], "revoke")
        let revoked = try #require(Directory.identity(Harness.doctor.derivedID, in: h.state))
        #expect(Directory.effectiveRoles(of: revoked, in: h.state).isEmpty)
    }

    /// Break-glass: a member, with the emergency-clinician role, at a hospital or clinic.
    @Test func breakGlassNeedsAnEmergencyClinicianOfACareProvider() throws {
        let state = RuleWorld.shared.h.state
        let er = try #require(Directory.identity(RuleWorld.er.derivedID, in: state))
        #expect(ConsentPolicy.mayBreakGlass(er, organizationType: Directory.organizationType(of: er, in: state)))
        for type in OrganizationType.allCases {
            #expect(ConsentPolicy.mayBreakGlass(er, organizationType: type) == MembershipContract.careProviderTypes.contains(type), "\(type.rawValue)")
        }
        let doctor = try #require(Directory.identity(Harness.doctor.derivedID, in: state))
        #expect(!ConsentPolicy.mayBreakGlass(doctor, organizationType: .hospital))
        let hospital = try #require(Directory.identity(Harness.hospital.derivedID, in: state))
        #expect(!ConsentPolicy.mayBreakGlass(hospital, organizationType: .hospital))
    }
}
