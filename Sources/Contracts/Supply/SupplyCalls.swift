public import LedgerCore

extension RecallReason: ArgumentName {
    public static var argumentDescription: String { "recall reason" }
    public static var unknownNameCode: ResultCode { .unknownReason }
}

extension QuarantineReason: ArgumentName {
    public static var argumentDescription: String { "quarantine reason" }
    public static var unknownNameCode: ResultCode { .unknownReason }
}

extension DecommissionReason: ArgumentName {
    public static var argumentDescription: String { "decommission reason" }
    public static var unknownNameCode: ResultCode { .unknownReason }
}

extension SupplyChainContract {
    /// The supply contract's methods.
    public enum Method: String, ContractMethods {
        case registerProduct, commission, aggregate, disaggregate, ship, receive, recall, quarantine, clear, decommission, verify
        public static let contract = "supply"
    }

    /// supply.registerProduct: a manufacturer registers a GTIN-14.
    public struct RegisterProduct: ContractMethod, Equatable {
        public static let method = Method.registerProduct
        public var gtin: String
        /// A non-PHI trade name.
        public var label: String

        public init(gtin: String, label: String) { (self.gtin, self.label) = (gtin, label) }

        public func validate() throws(Rejection) {
            try GS1.checkGTIN(gtin, CodingKeys.gtin)
            try Check.text(label, CodingKeys.label, maxBytes: SupplyChainContract.productLabelBytesMax)
        }
    }

    /// supply.commission: the manufacturer commissions serials in a lot (all or none).
    public struct Commission: ContractMethod, Equatable {
        public static let method = Method.commission
        public var gtin: String
        public var lot: String
        public var expiryMs: Int64
        public var serials: [String]

        public init(gtin: String, lot: String, expiryMs: Int64, serials: [String]) {
            (self.gtin, self.lot, self.expiryMs, self.serials) = (gtin, lot, expiryMs, serials)
        }

        public func validate() throws(Rejection) {
            try GS1.checkGTIN(gtin, CodingKeys.gtin)
            try GS1.checkLot(lot, CodingKeys.lot)
            try Check.timeMs(expiryMs, CodingKeys.expiryMs)
            try Check.count(serials, CodingKeys.serials, 1...SupplyChainContract.serialsPerCommissionMax)
            for serial in serials { _ = try SupplyStore.serial(serial) }
        }
    }

    /// supply.aggregate: the owner packs loose active units into a new case.
    public struct Aggregate: ContractMethod, Equatable {
        public static let method = Method.aggregate
        public var sscc: String
        public var units: [SGTIN]

        public init(sscc: String, units: [SGTIN]) { (self.sscc, self.units) = (sscc, units) }

        public func validate() throws(Rejection) {
            try GS1.checkSSCC(sscc, CodingKeys.sscc)
            try Check.count(units, CodingKeys.units, 1...SupplyChainContract.unitsPerCaseMax)
            try Check.distinct(units, CodingKeys.units)
        }
    }

    /// supply.disaggregate: the owner unpacks a case.
    public struct Disaggregate: ContractMethod, Equatable {
        public static let method = Method.disaggregate
        public var sscc: String

        public init(sscc: String) { self.sscc = sscc }

        public func validate() throws(Rejection) { try GS1.checkSSCC(sscc, CodingKeys.sscc) }
    }

    /// Units and cases of a ship or receive call: 1…`itemsPerCallMax` together, each named once.
    static func checkItems(_ units: [SGTIN]?, _ unitsKey: some CodingKey, _ cases: [String]?, _ casesKey: some CodingKey) throws(Rejection) {
        try Check.count(units, unitsKey, 0...itemsPerCallMax)
        try Check.distinct(units, unitsKey)
        try Check.count(cases, casesKey, 0...itemsPerCallMax)
        var seen = Set<String>()
        for sscc in cases ?? [] {
            guard GS1.isSSCC(sscc) else { throw Rejection(.invalidSSCC, "“\(sscc.prefix(24))” is not an SSCC-18 with a valid check digit") }
            guard seen.insert(sscc).inserted else { throw Rejection(.badArguments, "case \(sscc) is listed twice") }
        }
        let count = (units?.count ?? 0) + (cases?.count ?? 0)
        guard (1...itemsPerCallMax).contains(count) else {
            throw Rejection(.badArguments, "name 1…\(itemsPerCallMax) units and cases together; got \(count)")
        }
    }

    /// supply.ship: the owner ships loose units and cases to another holder.
    public struct Ship: ContractMethod, Equatable {
        public static let method = Method.ship
        public var to: IdentityID
        public var units: [SGTIN]?
        /// SSCCs of cases.
        public var cases: [String]?

        public init(to: IdentityID, units: [SGTIN]? = nil, cases: [String]? = nil) { (self.to, self.units, self.cases) = (to, units, cases) }

        public func validate() throws(Rejection) { try SupplyChainContract.checkItems(units, CodingKeys.units, cases, CodingKeys.cases) }
    }

    /// supply.receive: the pending recipient receives what `from` shipped.
    public struct Receive: ContractMethod, Equatable {
        public static let method = Method.receive
        public var from: IdentityID
        public var units: [SGTIN]?
        public var cases: [String]?

        public init(from: IdentityID, units: [SGTIN]? = nil, cases: [String]? = nil) { (self.from, self.units, self.cases) = (from, units, cases) }

        public func validate() throws(Rejection) { try SupplyChainContract.checkItems(units, CodingKeys.units, cases, CodingKeys.cases) }
    }

    /// supply.recall: the manufacturer or a regulator recalls a lot.
    public struct Recall: ContractMethod, Equatable {
        public static let method = Method.recall
        public var gtin: String
        public var lot: String
        public var reason: RecallReason

        public init(gtin: String, lot: String, reason: RecallReason) { (self.gtin, self.lot, self.reason) = (gtin, lot, reason) }

        public func validate() throws(Rejection) {
            try GS1.checkGTIN(gtin, CodingKeys.gtin)
            try GS1.checkLot(lot, CodingKeys.lot)
        }
    }

    /// supply.quarantine: the owner or a regulator marks units suspect.
    public struct Quarantine: ContractMethod, Equatable {
        public static let method = Method.quarantine
        public var units: [SGTIN]
        public var reason: QuarantineReason

        public init(units: [SGTIN], reason: QuarantineReason) { (self.units, self.reason) = (units, reason) }

        public func validate() throws(Rejection) { try SupplyChainContract.checkUnits(units, CodingKeys.units) }
    }

    /// supply.clear: a regulator or the manufacturer clears suspect units.
    public struct Clear: ContractMethod, Equatable {
        public static let method = Method.clear
        public var units: [SGTIN]

        public init(units: [SGTIN]) { self.units = units }

        public func validate() throws(Rejection) { try SupplyChainContract.checkUnits(units, CodingKeys.units) }
    }

    /// supply.decommission: the owner takes loose units out of the chain.
    public struct Decommission: ContractMethod, Equatable {
        public static let method = Method.decommission
        public var units: [SGTIN]
        public var reason: DecommissionReason

        public init(units: [SGTIN], reason: DecommissionReason) { (self.units, self.reason) = (units, reason) }

        public func validate() throws(Rejection) { try SupplyChainContract.checkUnits(units, CodingKeys.units) }
    }

    /// 1…`itemsPerCallMax` distinct units.
    static func checkUnits(_ units: [SGTIN], _ key: some CodingKey) throws(Rejection) {
        try Check.count(units, key, 1...itemsPerCallMax)
        try Check.distinct(units, key)
    }

    /// supply.verify: a DSCSA verification of one pack, with lot and expiry as printed.
    public struct Verify: ContractMethod, Equatable {
        public static let method = Method.verify
        public var gtin: String
        public var serial: String
        public var lot: String?
        public var expiryMs: Int64?

        public init(gtin: String, serial: String, lot: String? = nil, expiryMs: Int64? = nil) {
            (self.gtin, self.serial, self.lot, self.expiryMs) = (gtin, serial, lot, expiryMs)
        }

        public func validate() throws(Rejection) {
            try GS1.checkGTIN(gtin, CodingKeys.gtin)
            try GS1.checkSerial(serial, CodingKeys.serial)
            try GS1.checkLot(lot, CodingKeys.lot)
            try Check.timeMs(expiryMs, CodingKeys.expiryMs)
        }

        /// The pack's serialized identity.
        public var sgtin: SGTIN { SGTIN(gtin: gtin, serial: serial) }
    }
}
