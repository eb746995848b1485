public import LedgerCore

/// Who may read what the chain knows about a patient, a claim, a prescription, a trial
/// participant, a telehealth session or an audit log — once, for the HTTP API, FHIR and the CLI.
/// Pure functions of committed state and the requester; no I/O. The table is docs/access-rules.md
/// and `ReadRulesTests` checks every row.
///
/// Record contents are not decided here: every read of a record is a consent decision
/// (`ConsentPolicy.decide`) logged by the custodian before anything is released.
public enum ReadRules {
    /// The patient or one of their delegates.
    public static func isPatientSide(_ patient: IdentityID, _ requester: Identity, _ state: some StateReader) -> Bool {
        ConsentIndex.isPatientSide(requester.id, of: patient, in: state)
    }

    /// The organization itself or one of its members.
    public static func isStaff(of organization: IdentityID, _ requester: Identity) -> Bool {
        requester.id == organization || requester.organization == organization
    }

    /// The organization the requester acts for: itself, or the one it is a member of.
    public static func organization(of requester: Identity) -> IdentityID? {
        requester.kind == .organization ? requester.id : requester.organization
    }

    /// Staff of one of `custodians` (the organizations whose records a node holds).
    public static func isCustodianStaff(_ requester: Identity, custodians: Set<IdentityID>) -> Bool {
        organization(of: requester).map(custodians.contains) == true
    }

    /// A claim: the patient (or a delegate), the billing provider's staff, the payer's staff.
    public static func mayReadClaim(_ claim: ClaimEntry, _ requester: Identity, _ state: some StateReader) -> Bool {
        if isPatientSide(claim.patient, requester, state) || isStaff(of: claim.provider, requester) { return true }
        guard let payer = ClaimsContract.plan(claim.plan, in: state)?.payer else { return false }
        return isStaff(of: payer, requester)
    }

    /// A coverage of `patient` (shown by its member key: `ClaimsContract.memberKey`): the patient
    /// (or a delegate) and the plan's payer's staff.
    public static func mayReadCoverage(of patient: IdentityID, payer: IdentityID, _ requester: Identity, _ state: some StateReader) -> Bool {
        isPatientSide(patient, requester, state) || isStaff(of: payer, requester)
    }

    /// A prior authorization: the patient (or a delegate), the requesting provider's staff, the payer's staff.
    public static func mayReadAuthorization(_ authorization: PriorAuthorization, _ requester: Identity, _ state: some StateReader) -> Bool {
        if isPatientSide(authorization.patient, requester, state) || isStaff(of: authorization.provider, requester) { return true }
        guard let payer = ClaimsContract.plan(authorization.plan, in: state)?.payer else { return false }
        return isStaff(of: payer, requester)
    }

    /// A prescription: the patient (or a delegate), the prescriber's organization, and any
    /// pharmacist or pharmacy (who must check a prescription before filling it).
    public static func mayReadPrescription(_ prescription: Prescription, _ requester: Identity, _ state: some StateReader) -> Bool {
        isPatientSide(prescription.patient, requester, state) || isStaff(of: prescription.organization, requester)
            || Directory.effectiveRoles(of: requester, in: state).contains(.pharmacist)
            || (requester.kind == .organization && requester.organizationType == .pharmacy)
    }

    /// A trial participant: the patient (or a delegate), the sponsor's staff, or the staff of one of the trial's current sites.
    public static func mayReadParticipant(_ patient: IdentityID, of trial: Trial, _ requester: Identity, _ state: some StateReader) -> Bool {
        isPatientSide(patient, requester, state) || isStaff(of: trial.sponsor, requester)
            || trial.current.sites.contains { isStaff(of: $0, requester) }
    }

    /// A telehealth session (and its relayed messages): its clinician, or its patient (or a delegate).
    public static func isSessionParticipant(_ session: TelehealthSession, _ requester: Identity, _ state: some StateReader) -> Bool {
        requester.id == session.clinician || isPatientSide(session.patient, requester, state)
    }

    /// A patient's access log at a custodian: the patient, a delegate, or a custodian held by
    /// this node acting as itself or through an auditor or administrator.
    public static func mayReadAccessLog(of patient: IdentityID, _ requester: Identity, custodians: Set<IdentityID>,
                                        _ state: some StateReader) -> Bool {
        isPatientSide(patient, requester, state) || isCustodianAuditor(requester, custodians: custodians, state)
    }

    /// A custodian held by this node acting as itself or through an auditor or administrator: who
    /// reads the custodian's side of the access log, and its access-anomaly alerts (built from the
    /// entries `mayReadAccessLogEntry` lets it read, so an alert shows nothing the log would not).
    public static func isCustodianAuditor(_ requester: Identity, custodians: Set<IdentityID>, _ state: some StateReader) -> Bool {
        isCustodianStaff(requester, custodians: custodians)
            && (requester.kind == .organization || !Directory.effectiveRoles(of: requester, in: state).isDisjoint(with: [.auditor, .admin]))
    }

    /// One entry of a patient's access log that `mayReadAccessLog` allowed (the read of `record`):
    /// every entry for the patient side; for a custodian (itself, its auditors and admins) only the
    /// reads of its own records — not those of another custodian the same node holds.
    public static func mayReadAccessLogEntry(about record: Hash256, of patient: IdentityID, _ requester: Identity,
                                             _ state: some StateReader) -> Bool {
        if isPatientSide(patient, requester, state) { return true }
        guard let custodian = RecordIndex.current(record, in: state)?.custodian else { return false }
        return organization(of: requester) == custodian
    }

    /// Roles whose holders see their own organization's record entries (ids, types, categories)
    /// without a consent decision per record: care and record-keeping roles. A supply-chain clerk,
    /// a researcher or a payer agent at a custodian sees none.
    public static let recordListingRoles: Set<Role> = [.clinician, .nurse, .emergencyClinician, .admin, .auditor]

    /// Staff of `custodian` (held by this node) who see its record entries: the organization
    /// itself, or a member holding a listing role.
    public static func isRecordStaff(of custodian: IdentityID, _ requester: Identity, custodians: Set<IdentityID>,
                                     _ state: some StateReader) -> Bool {
        guard custodians.contains(custodian), isStaff(of: custodian, requester) else { return false }
        return requester.kind == .organization || !Directory.effectiveRoles(of: requester, in: state).isDisjoint(with: recordListingRoles)
    }

    /// A patient's list of records (ids, types, categories, custodians): the patient, a delegate,
    /// or the record staff of a custodian held by this node — who see only their own
    /// organization's entries (`mayListEntry`).
    public static func mayListRecords(of patient: IdentityID, _ requester: Identity, custodians: Set<IdentityID>,
                                      _ state: some StateReader) -> Bool {
        if isPatientSide(patient, requester, state) { return true }
        guard let organization = organization(of: requester) else { return false }
        return isRecordStaff(of: organization, requester, custodians: custodians, state)
    }

    /// One entry of a listing `mayListRecords` allowed: all of them for the patient side, the
    /// requester's own organization's for its record staff.
    public static func mayListEntry(_ entry: RecordEntry, _ requester: Identity, custodians: Set<IdentityID>,
                                    _ state: some StateReader) -> Bool {
        isPatientSide(entry.patient, requester, state) || isRecordStaff(of: entry.custodian, requester, custodians: custodians, state)
    }

    /// A patient's consents: the patient or a delegate.
    public static func mayListConsents(of patient: IdentityID, _ requester: Identity, _ state: some StateReader) -> Bool {
        isPatientSide(patient, requester, state)
    }

    // MARK: transactions

    /// Argument keys that name a party of a transaction (at the top level, or in each of its
    /// `entries`): the patient it is about and the staff member an organization acts for.
    static let partyArgumentKeys = ["patient", "agent"]

    /// The identities a transaction names as its parties: its sender, and the patient and agent
    /// its arguments name.
    public static func parties(of body: TransactionBody) -> Set<IdentityID> {
        var parties: Set<IdentityID> = [body.sender]
        func collect(_ map: CanonicalMap) {
            for key in partyArgumentKeys {
                if case .bytes(let bytes)? = map[key], let id = Hash256(bytes: bytes) { parties.insert(id) }
            }
        }
        guard case .map(let args) = body.args else { return parties }
        collect(args)
        if case .list(let entries)? = args["entries"] {
            for case .map(let entry) in entries { collect(entry) }
        }
        return parties
    }

    /// Who may read a committed transaction's content (sender, contract, method, arguments, result
    /// and its bytes) — security review finding 1: its parties, the patient side of a patient
    /// party, a party's organization itself, and that organization's auditors and administrators.
    /// Everyone else sees only what an inclusion proof needs (its id, log index, height and leaf hash).
    public static func mayReadTransaction(_ body: TransactionBody, _ requester: Identity, _ state: some StateReader) -> Bool {
        let parties = parties(of: body)
        if parties.contains(requester.id) { return true }
        let overseer = requester.kind == .organization
            || !Directory.effectiveRoles(of: requester, in: state).isDisjoint(with: [.auditor, .admin])
        for party in parties {
            guard let identity = Directory.identity(party, in: state) else { continue }
            switch identity.kind {
            case .patient:
                if isPatientSide(party, requester, state) { return true }
            case .organization:
                if overseer, organization(of: requester) == party { return true }
            case .member, .device:
                if overseer, let partyOrganization = identity.organization, organization(of: requester) == partyOrganization { return true }
            }
        }
        return false
    }
}
