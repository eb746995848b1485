public import LedgerCore

/// The lifecycle state of a prescription (expiry is applied on read against a time).
public enum PrescriptionStatus: String, Sendable, CaseIterable, Codable {
    case active, completed, cancelled
}

/// One dispensing against a prescription.
public struct PrescriptionFill: Sendable, Equatable, StoredValue {
    /// 1-based fill number (from the state key).
    public var number: Int64 = 0
    /// The dispensing organization (pharmacy or hospital).
    public var pharmacy: IdentityID
    /// The signer (the organization or its pharmacist).
    public var by: IdentityID
    public var height: UInt64
    public var timeMs: Int64
    /// The units dispensed, in the order given.
    public var units: [SGTIN]

    enum CodingKeys: String, CodingKey {
        case pharmacy, by, height, timeMs, units
    }
}

/// A prescription as stored: ids, hashes and counts only. The FHIR MedicationRequest itself stays
/// off-chain; `medicationRequestHash` binds it.
public struct Prescription: Sendable, Equatable, StoredValue {
    /// The issuing transaction's id (from the state key).
    public var id: Hash256 = .zero
    public var prescriber: IdentityID
    /// The prescriber's organization (hospital or clinic).
    public var organization: IdentityID
    /// The patient's pseudonymous id.
    public var patient: IdentityID
    public var medicationRequestHash: Hash256
    public var gtin: String
    /// Units dispensed per fill.
    public var quantity: Int64
    public var refills: Int64
    public var expiresMs: Int64
    public var issuedHeight: UInt64
    public var issuedMs: Int64
    public var fillsUsed: Int64 = 0
    public var status: PrescriptionStatus = .active
    public var cancelledHeight: UInt64?
    public var cancelledBy: IdentityID?
    /// The pharmacies (organizations) that may dispense it, sorted; nil: any pharmacy. A
    /// prescription issued privately goes to the prescriber's organization and these only.
    public var pharmacies: [IdentityID]?

    /// The organizations entitled to a private prescription: the prescriber's and the pharmacies.
    public var collection: Set<IdentityID> { Set(pharmacies ?? []).union([organization]) }

    /// 1 + refills.
    public var fillsAllowed: Int64 { 1 + refills }
    /// Fills not yet used (0 once cancelled).
    public var fillsRemaining: Int64 { status == .cancelled ? 0 : max(0, fillsAllowed - fillsUsed) }
    /// True when the prescription can no longer be filled at `atMs` for lapse of time.
    public func isExpired(atMs: Int64) -> Bool { expiresMs <= atMs }

    enum CodingKeys: String, CodingKey {
        case prescriber, organization, patient, medicationRequestHash, gtin, quantity, refills, expiresMs, issuedHeight, issuedMs, fillsUsed
        case status, cancelledHeight, cancelledBy, pharmacies
    }
}

/// A prescription with its fill history, as the read helper returns it.
public struct PrescriptionView: Sendable, Equatable {
    public var prescription: Prescription
    /// Oldest first, at most `PrescriptionContract.fillsMax`.
    public var fills: [PrescriptionFill]

    public var fillsUsed: Int64 { prescription.fillsUsed }
    public var fillsRemaining: Int64 { prescription.fillsRemaining }
    public var status: PrescriptionStatus { prescription.status }
}

/// Prescriptions: a clinician of a hospital or clinic issues one (a hash of the FHIR
/// MedicationRequest, a patient pseudonym, a product, quantity per fill, refills, expiry); any
/// pharmacy fills it with serialized units it owns, which the supply contract marks dispensed in
/// the same transaction; every fill at any pharmacy counts against the same prescription; the
/// prescriber or their organization cancels it.
public struct PrescriptionContract: Contract {
    public var name: String { Method.contract }
    public let methods = Method.names

    /// Most units per fill.
    public static let quantityMax: Int64 = 1_000
    /// Most refills (so at most 13 fills).
    public static let refillsMax: Int64 = 12
    /// Most fills of one prescription: 1 + `refillsMax`.
    public static let fillsMax: Int64 = 1 + refillsMax
    /// Longest validity of a prescription: 365 days after issue, in ms.
    public static let validityMsMax: Int64 = 365 * 86_400_000
    /// Organization types whose clinicians prescribe.
    public static let prescriberTypes: Set<OrganizationType> = [.hospital, .clinic]

    /// On a consortium a prescription travels privately, between the prescriber's organization and
    /// the pharmacies named (`Issue.pharmacies`); a fill's shared writes (the units dispensed) depend
    /// on it, so all three methods are endorsed calls.
    public var endorsedMethods: Set<String> { methods }
    /// Everything the contract keeps is in the collection; the supply units a fill dispenses are shared.
    public var privateKeyPrefixes: [String] { ["rx/"] }

    public func privateOrganizations(_ call: ContractCall, state: StateView) throws(Rejection) -> Set<IdentityID> {
        switch try Method.of(call) {
        case .issue:
            let args = try Issue(call)
            guard let pharmacies = args.pharmacies else {
                throw Rejection(.wrongCollection, "a prescription issued privately names the pharmacies that may dispense it")
            }
            let sender = try Directory.activeSender(call, in: state)
            guard let organization = sender.organization else { throw Rejection(.notPrescriber, "only a clinician of an organization prescribes") }
            return Set(pharmacies).union([organization])
        case .fill: return try Self.require(try Fill(call).prescription, state).collection
        case .cancel: return try Self.require(try Cancel(call).prescription, state).collection
        }
    }

    /// A fill's shared writes are the units it dispenses, and nothing else: every node re-derives
    /// them from the units' current state, the sender's organization and the prescription id the
    /// dispensing event names. So the endorsers vouch only for the private check against the
    /// prescription; a pharmacy dispenses only its own active units, as a clear fill would.
    public func checkSharedWrites(_ call: ContractCall, _ writes: [Proposal.Write], state: StateView) throws(Rejection) {
        guard Method(rawValue: call.method) == .fill else {
            guard writes.isEmpty else { throw Rejection(.badEndorsement, "rx.\(call.method) makes no shared writes") }
            return
        }
        var units: [SGTIN] = [], prescriptions: Set<String> = []
        for write in writes {
            let parts = write.key.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 4, write.key.hasPrefix("supply/unit/"), let value = write.value,
                  let unit = SupplyUnit.decode(value, key: { $0.sgtin = SGTIN(gtin: String(parts[2]), serial: String(parts[3])) }),
                  let event = unit.custody.last, event.kind == .dispensed else {
                throw Rejection(.badEndorsement, "a fill writes only the units it dispenses, not \(write.key)")
            }
            units.append(unit.sgtin)
            prescriptions.insert(event.detail ?? "")
        }
        guard let gtin = units.first?.gtin, units.allSatisfy({ $0.gtin == gtin }), prescriptions.count == 1,
              let prescription = prescriptions.first.flatMap(Hash256.init(hex:)) else {
            throw Rejection(.badEndorsement, "a fill dispenses units of one product for one prescription")
        }
        var derived = state
        let actor = try SupplyStore.actor(call, derived, types: SupplyStore.pharmacyTypes, roles: [.pharmacist], code: .notPharmacy)
        try SupplyStore.dispense(units, gtin: gtin, pharmacy: actor.organization, prescription: prescription, call: call, state: &derived)
        let expected = derived.pendingWrites.map { Proposal.Write(key: $0.key, value: $0.value) }.sorted { String.utf8Order($0.key, $1.key) < 0 }
        guard expected == writes else {
            throw Rejection(.badEndorsement, "the fill's shared writes are not the sender's units dispensed for prescription \(prescription.hex)")
        }
    }

    public init() {}

    /// State-key prefix of prescriptions (entries end in the prescription id).
    public static let prescriptionPrefix = "rx/prescription/"
    static func prescriptionKey(_ id: Hash256) -> String { prescriptionPrefix + id.hex }
    static func fillKey(_ id: Hash256, _ number: Int64) -> String { "rx/fill/\(id.hex)/\(number)" }

    public func likelyKeys(_ transaction: VerifiedTransaction) -> [String] {
        let id: Hash256
        switch Method(rawValue: transaction.body.method) {
        case .fill: guard let args = Fill(transaction) else { return [] }; id = args.prescription
        case .cancel: guard let args = Cancel(transaction) else { return [] }; id = args.prescription
        case .issue, nil: return []
        }
        return [Self.prescriptionKey(id)]
    }

    public func execute(_ call: ContractCall, state: inout StateView) throws(Rejection) {
        switch try Method.of(call) {
        case .issue: try issue(call, try Issue(call), &state)
        case .fill: try fill(call, try Fill(call), &state)
        case .cancel: try cancel(call, try Cancel(call), &state)
        }
    }

    /// A clinician of a hospital or clinic issues a prescription; its id is the transaction id.
    private func issue(_ call: ContractCall, _ args: Issue, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        guard sender.kind == .member, Directory.effectiveRoles(of: sender, in: state).contains(.clinician), let orgID = sender.organization,
              let org = Directory.identity(orgID, in: state), !org.revoked,
              let type = org.organizationType, Self.prescriberTypes.contains(type) else {
            throw Rejection(.notPrescriber, "only a clinician of an active hospital or clinic issues prescriptions")
        }
        let (request, patient) = (args.medicationRequestHash, args.patient)
        guard let patientIdentity = Directory.identity(patient, in: state), patientIdentity.kind == .patient, !patientIdentity.revoked else {
            throw Rejection(.unknownPatient, "no active patient \(patient.hex)")
        }
        if let pharmacies = args.pharmacies {
            for id in pharmacies {
                guard let pharmacy = Directory.identity(id, in: state), pharmacy.kind == .organization, !pharmacy.revoked,
                      let type = pharmacy.organizationType, SupplyStore.pharmacyTypes.contains(type) else {
                    throw Rejection(.notPharmacy, "\(id.hex) is not an active pharmacy")
                }
            }
        }
        let gtin = args.gtin
        guard SupplyStore.product(gtin, { state.get($0) }) != nil else { throw Rejection(.unknownProduct, "no product \(gtin)") }
        let (quantity, refills, expiresMs) = (args.quantity, args.refills, args.expiresMs)
        guard expiresMs > call.timeMs, expiresMs - call.timeMs <= Self.validityMsMax else {
            throw Rejection(.badPrescriptionPeriod, "a prescription expires after block time and at most 365 days later")
        }
        var prescription = Prescription(id: call.id, prescriber: sender.id, organization: orgID, patient: patient,
                                        medicationRequestHash: request, gtin: gtin, quantity: quantity, refills: refills,
                                        expiresMs: expiresMs, issuedHeight: call.height, issuedMs: call.timeMs)
        prescription.pharmacies = args.pharmacies.map { Set($0).sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) } }
        try state.set(Self.prescriptionKey(prescription.id), prescription)
    }

    /// A pharmacy (or hospital) dispenses one fill: exactly `quantity` units of the prescribed GTIN
    /// that it owns and that are active; they become dispensed in the supply state.
    private func fill(_ call: ContractCall, _ args: Fill, _ state: inout StateView) throws(Rejection) {
        let actor = try SupplyStore.actor(call, state, types: SupplyStore.pharmacyTypes, roles: [.pharmacist], code: .notPharmacy)
        var prescription = try Self.require(args.prescription, state)
        guard prescription.status != .cancelled else { throw Rejection(.prescriptionCancelled, "prescription \(prescription.id.hex) was cancelled") }
        if let pharmacies = prescription.pharmacies, !pharmacies.contains(actor.organization) {
            throw Rejection(.notPharmacy, "prescription \(prescription.id.hex) is dispensed only by the pharmacies it names")
        }
        guard !prescription.isExpired(atMs: call.timeMs) else {
            throw Rejection(.prescriptionExpired, "prescription \(prescription.id.hex) expired at \(prescription.expiresMs)")
        }
        guard prescription.fillsUsed < prescription.fillsAllowed else {
            throw Rejection(.noFillsLeft, "prescription \(prescription.id.hex) has used all \(prescription.fillsAllowed) fills")
        }
        let units = args.units
        guard Int64(units.count) == prescription.quantity else {
            throw Rejection(.wrongQuantity, "a fill of prescription \(prescription.id.hex) dispenses \(prescription.quantity) units, not \(units.count)")
        }
        try SupplyStore.dispense(units, gtin: prescription.gtin, pharmacy: actor.organization, prescription: prescription.id, call: call,
                                 state: &state)
        prescription.fillsUsed += 1
        if prescription.fillsUsed == prescription.fillsAllowed { prescription.status = .completed }
        let fill = PrescriptionFill(number: prescription.fillsUsed, pharmacy: actor.organization, by: actor.sender.id, height: call.height,
                                    timeMs: call.timeMs, units: units)
        try state.set(Self.fillKey(prescription.id, fill.number), fill)
        try state.set(Self.prescriptionKey(prescription.id), prescription)
    }

    /// The prescriber, their organization or its admin cancels an unfilled or partly filled prescription.
    private func cancel(_ call: ContractCall, _ args: Cancel, _ state: inout StateView) throws(Rejection) {
        let sender = try Directory.activeSender(call, in: state)
        var prescription = try Self.require(args.prescription, state)
        let isIssuer = sender.id == prescription.prescriber || sender.id == prescription.organization
            || (sender.organization == prescription.organization && Directory.effectiveRoles(of: sender, in: state).contains(.admin))
        guard isIssuer else { throw Rejection(.notIssuer, "only the prescriber or their organization cancels \(prescription.id.hex)") }
        guard prescription.status != .cancelled else {
            throw Rejection(.prescriptionCancelled, "prescription \(prescription.id.hex) is already cancelled")
        }
        guard prescription.status != .completed else {
            throw Rejection(.noFillsLeft, "prescription \(prescription.id.hex) is fully filled; nothing to cancel")
        }
        prescription.status = .cancelled
        prescription.cancelledHeight = call.height
        prescription.cancelledBy = sender.id
        try state.set(Self.prescriptionKey(prescription.id), prescription)
    }

    static func require(_ id: Hash256, _ state: StateView) throws(Rejection) -> Prescription {
        guard let prescription = Prescription.decode(state.get(prescriptionKey(id)), key: { $0.id = id }) else {
            throw Rejection(.unknownPrescription, "no prescription \(id.hex)")
        }
        return prescription
    }

    // MARK: public read helpers

    /// A prescription with its fills (used, remaining, status, history), if issued.
    public static func prescription(_ id: Hash256, in reader: any StateReader) -> PrescriptionView? {
        guard let prescription = Prescription.decode(reader.value(for: prescriptionKey(id)), key: { $0.id = id }) else { return nil }
        let fills = (0..<min(prescription.fillsUsed, fillsMax)).compactMap { index in
            PrescriptionFill.decode(reader.value(for: fillKey(id, index + 1))) { $0.number = index + 1 }
        }
        return PrescriptionView(prescription: prescription, fills: fills)
    }
}
