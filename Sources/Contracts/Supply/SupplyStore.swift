import LedgerCore

/// The organization a supply or prescription call acts for, and who signed it.
struct SupplyActor {
    let sender: Identity
    let organization: IdentityID
    let type: OrganizationType
}

/// State layout and shared helpers of the supply contract. The prescription contract uses the
/// same functions to read units and mark them dispensed (same module, same keys).
enum SupplyStore {
    /// A state lookup: `StateView.get` while executing, `StateReader.value(for:)` when reading.
    typealias Lookup = (String) -> [UInt8]?

    // MARK: keys

    static func productKey(_ gtin: String) -> String { "supply/product/\(gtin)" }
    static func unitKey(_ unit: SGTIN) -> String { "supply/unit/\(unit.gtin)/\(unit.serial)" }
    static func lotKey(_ gtin: String, _ lot: String) -> String { "supply/lot/\(gtin)/\(lot)" }
    static func caseKey(_ sscc: String) -> String { "supply/case/\(sscc)" }
    static func verificationKey(_ id: Hash256) -> String { "supply/verification/\(id.hex)" }
    /// One value per serial: {count, ids (first `incidentsPerSerialIndexedMax`)}.
    static func serialIncidentsKey(_ unit: SGTIN) -> String { "supply/incidents/serial/\(unit.gtin)/\(unit.serial)" }
    /// The number of incidents an organization reported.
    static func reporterCountKey(_ organization: IdentityID) -> String { "supply/incidents/org/\(organization.hex)" }
    /// The `index`-th (0-based) incident an organization reported.
    static func reporterItemKey(_ organization: IdentityID, _ index: Int64) -> String { "supply/incidents/org/\(organization.hex)/\(index)" }

    // MARK: loads

    static func product(_ gtin: String, _ get: Lookup) -> SupplyProduct? {
        SupplyProduct.decode(get(productKey(gtin))) { $0.gtin = gtin }
    }

    static func unit(_ sgtin: SGTIN, _ get: Lookup) -> SupplyUnit? {
        SupplyUnit.decode(get(unitKey(sgtin))) { $0.sgtin = sgtin }
    }

    static func lot(_ gtin: String, _ lot: String, _ get: Lookup) -> SupplyLot? {
        SupplyLot.decode(get(lotKey(gtin, lot))) {
            $0.gtin = gtin
            $0.lot = lot
        }
    }

    static func shippingCase(_ sscc: String, _ get: Lookup) -> SupplyCase? {
        SupplyCase.decode(get(caseKey(sscc))) { $0.sscc = sscc }
    }

    static func verification(_ id: Hash256, _ get: Lookup) -> VerificationRecord? {
        VerificationRecord.decode(get(verificationKey(id))) { $0.id = id }
    }

    static func serialIncidents(_ unit: SGTIN, _ get: Lookup) -> SerialIncidents {
        get(serialIncidentsKey(unit)).flatMap { SerialIncidents.decode($0) } ?? SerialIncidents(count: 0, ids: [])
    }

    /// The reporter count is a bare `.int`.
    static func reporterCount(_ organization: IdentityID, _ get: Lookup) -> Int64 {
        scalar(get(reporterCountKey(organization)))?.intValue ?? 0
    }

    /// A reporter index entry is the incident id as bare `.bytes`.
    static func reporterItem(_ organization: IdentityID, _ index: Int64, _ get: Lookup) -> Hash256? {
        scalar(get(reporterItemKey(organization, index)))?.bytesValue.flatMap { Hash256(bytes: $0) }
    }

    private static func scalar(_ bytes: [UInt8]?) -> CanonicalValue? { bytes.flatMap { try? CanonicalValue(decoding: $0) } }

    // MARK: stores

    static func store(_ unit: SupplyUnit, _ state: inout StateView) throws(Rejection) { try state.set(unitKey(unit.sgtin), unit) }
    static func store(_ lot: SupplyLot, _ state: inout StateView) throws(Rejection) { try state.set(lotKey(lot.gtin, lot.lot), lot) }
    static func store(_ shippingCase: SupplyCase, _ state: inout StateView) throws(Rejection) {
        try state.set(caseKey(shippingCase.sscc), shippingCase)
    }

    // MARK: rules shared by both contracts

    /// Organization types that may hold product (own, ship, receive, dispense).
    static let holderTypes: Set<OrganizationType> = [.manufacturer, .distributor, .pharmacy, .hospital]
    /// Organization types of the supply chain (holders and regulators).
    static let partyTypes: Set<OrganizationType> = holderTypes.union([.regulator])
    /// Organization types whose pharmacists act for them.
    static let pharmacyTypes: Set<OrganizationType> = [.pharmacy, .hospital]

    /// The acting organization of a call: the sender organization, or the active organization of a
    /// member or device holding `supply-chain` (or `pharmacist`, for a pharmacy or hospital), whose
    /// type must be in `types`.
    static func actor(_ call: ContractCall, _ state: StateView, types: Set<OrganizationType>, roles: Set<Role> = [.supplyChain],
                      code: ResultCode = .notSupplyParty) throws(Rejection) -> SupplyActor {
        let sender = try Directory.activeSender(call, in: state)
        let names = types.map(\.rawValue).sorted().joined(separator: ", ")
        switch sender.kind {
        case .organization:
            guard let type = sender.organizationType, types.contains(type) else {
                throw Rejection(code, "\(call.method) is for organizations of type \(names)")
            }
            return SupplyActor(sender: sender, organization: sender.id, type: type)
        case .member, .device:
            guard let orgID = sender.organization, let org = Directory.identity(orgID, in: state), org.kind == .organization,
                  let type = org.organizationType else {
                throw Rejection(code, "sender \(sender.id.hex) belongs to no organization")
            }
            guard !org.revoked else { throw Rejection(.senderRevoked, "organization \(orgID.hex) has been revoked") }
            guard types.contains(type) else { throw Rejection(code, "\(call.method) is for organizations of type \(names)") }
            let allowed = pharmacyTypes.contains(type) ? roles.union([.pharmacist]) : roles
            guard !allowed.isDisjoint(with: sender.effectiveRoles(organizationType: type)) else {
                throw Rejection(code, "\(call.method) needs one of the roles \(allowed.map(\.rawValue).sorted().joined(separator: ", "))")
            }
            return SupplyActor(sender: sender, organization: orgID, type: type)
        case .patient:
            throw Rejection(code, "patients are not supply-chain parties")
        }
    }

    /// A valid serial (`.invalidSerial`).
    static func serial(_ serial: String) throws(Rejection) -> String {
        guard GS1.isSerial(serial) else {
            throw Rejection(.invalidSerial, "serial “\(serial.prefix(24))” must be 1–\(GS1.serialBytesMax) letters, digits or -._")
        }
        return serial
    }

    /// A valid lot number (`.invalidLot`).
    static func lotNumber(_ lot: String) throws(Rejection) -> String {
        guard GS1.isSerial(lot, maxBytes: GS1.lotBytesMax) else {
            throw Rejection(.invalidLot, "lot “\(lot.prefix(24))” must be 1–\(GS1.lotBytesMax) letters, digits or -._")
        }
        return lot
    }

    /// The unit, or `unknownUnit`.
    static func requireUnit(_ sgtin: SGTIN, _ state: StateView) throws(Rejection) -> SupplyUnit {
        guard let unit = unit(sgtin, { state.get($0) }) else { throw Rejection(.unknownUnit, "no unit \(sgtin) was commissioned") }
        return unit
    }

    /// Whether a lot is recalled, remembering answers for the call.
    static func isRecalled(_ gtin: String, _ lot: String, _ state: StateView, _ memo: inout [String: Bool]) -> Bool {
        let key = lotKey(gtin, lot)
        if let known = memo[key] { return known }
        let recalled = self.lot(gtin, lot, { state.get($0) })?.recall != nil
        memo[key] = recalled
        return recalled
    }

    /// Throws the specific code when the unit's effective status is not active; `allowCase` lets a
    /// unit packed in a case pass (the case itself is checked by the caller).
    static func requireActive(_ unit: SupplyUnit, _ state: StateView, atMs: Int64, memo: inout [String: Bool],
                              allowCase: Bool = false) throws(Rejection) {
        if !allowCase, let sscc = unit.caseSSCC { throw Rejection(.unitInCase, "unit \(unit.sgtin) is packed in case \(sscc)") }
        let status = unit.effectiveStatus(lotRecalled: isRecalled(unit.sgtin.gtin, unit.lot, state, &memo), atMs: atMs)
        try requireStatus(status, unit.sgtin)
    }

    /// Maps a non-active effective status to its result code.
    static func requireStatus(_ status: UnitStatus, _ sgtin: SGTIN) throws(Rejection) {
        switch status {
        case .active: return
        case .shipped: throw Rejection(.unitInTransit, "unit \(sgtin) is in transit")
        case .dispensed: throw Rejection(.unitDispensed, "unit \(sgtin) was already dispensed")
        case .decommissioned: throw Rejection(.unitDecommissioned, "unit \(sgtin) was decommissioned")
        case .recalled: throw Rejection(.unitRecalled, "unit \(sgtin) belongs to a recalled lot")
        case .suspect: throw Rejection(.unitSuspect, "unit \(sgtin) is quarantined as suspect")
        case .expired: throw Rejection(.unitExpired, "unit \(sgtin) is past its expiry")
        }
    }

    /// Appends a custody event; ordinary events stop `custodyEventsReserved` short of the limit so a
    /// full unit can still be flagged, dispensed or decommissioned.
    static func append(_ event: CustodyEvent, to unit: inout SupplyUnit, final: Bool = false) throws(Rejection) {
        let limit = final ? SupplyChainContract.custodyEventsMax
            : SupplyChainContract.custodyEventsMax - SupplyChainContract.custodyEventsReserved
        guard unit.custody.count < limit else {
            throw Rejection(.custodyHistoryFull,
                            "unit \(unit.sgtin) has \(unit.custody.count) custody events; it can only be decommissioned or dispensed")
        }
        unit.custody.append(event)
    }

    /// Marks units dispensed by `pharmacy` against `prescription`: each must be of `gtin`, known,
    /// not dispensed or decommissioned, owned by the pharmacy, loose (not in a case), and active
    /// (not recalled, suspect, expired or in transit). All or none (the caller throws).
    static func dispense(_ sgtins: [SGTIN], gtin: String, pharmacy: IdentityID, prescription: Hash256, call: ContractCall,
                         state: inout StateView) throws(Rejection) {
        var memo: [String: Bool] = [:]
        var updated: [SupplyUnit] = []
        for sgtin in sgtins {
            guard sgtin.gtin == gtin else { throw Rejection(.wrongProduct, "unit \(sgtin) is not of the prescribed GTIN \(gtin)") }
            var unit = try requireUnit(sgtin, state)
            if unit.status == .dispensed || unit.status == .decommissioned { try requireStatus(unit.status, sgtin) }
            guard unit.owner == pharmacy else {
                throw Rejection(.notOwner, "unit \(sgtin) is not owned by pharmacy \(pharmacy.hex)")
            }
            try requireActive(unit, state, atMs: call.timeMs, memo: &memo)
            unit.status = .dispensed
            try append(CustodyEvent(kind: .dispensed, from: pharmacy, to: nil, detail: prescription.hex, height: call.height, timeMs: call.timeMs),
                       to: &unit, final: true)
            updated.append(unit)
        }
        for unit in updated { try store(unit, &state) }
    }
}
