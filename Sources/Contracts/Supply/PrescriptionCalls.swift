public import LedgerCore

extension PrescriptionContract {
    /// The prescription contract's methods.
    public enum Method: String, ContractMethods {
        case issue, fill, cancel
        public static let contract = "rx"
    }

    /// rx.issue: a clinician of a hospital or clinic issues a prescription; its id is the transaction id.
    public struct Issue: ContractMethod, Equatable {
        public static let method = Method.issue
        /// SHA-256 of the FHIR MedicationRequest held off-chain.
        public var medicationRequestHash: Hash256
        public var patient: IdentityID
        public var gtin: String
        /// Units per fill.
        public var quantity: Int64
        /// Fills allowed after the first (0 to `refillsMax`).
        public var refills: Int64
        /// No fill is accepted from this time on (ms since the epoch, ledger time).
        public var expiresMs: Int64
        /// The pharmacies that may dispense it (1–15 organizations); nil: any. Required when the
        /// prescription is issued privately, which sends it to them and the prescriber's organization only.
        public var pharmacies: [IdentityID]?

        public init(medicationRequestHash: Hash256, patient: IdentityID, gtin: String, quantity: Int64, refills: Int64, expiresMs: Int64,
                    pharmacies: [IdentityID]? = nil) {
            (self.medicationRequestHash, self.patient, self.gtin, self.quantity, self.refills, self.expiresMs) =
                (medicationRequestHash, patient, gtin, quantity, refills, expiresMs)
            self.pharmacies = pharmacies
        }

        public func validate() throws(Rejection) {
            try GS1.checkGTIN(gtin, CodingKeys.gtin)
            try Check.int(quantity, CodingKeys.quantity, in: 1...PrescriptionContract.quantityMax)
            try Check.int(refills, CodingKeys.refills, in: 0...PrescriptionContract.refillsMax)
            try Check.timeMs(expiresMs, CodingKeys.expiresMs)
            if let pharmacies {
                try Check.count(pharmacies, CodingKeys.pharmacies, 1...(PrivateEnvelope.organizationsMax - 1))
                try Check.distinct(pharmacies, CodingKeys.pharmacies)
            }
        }
    }

    /// rx.fill: a pharmacy dispenses one fill with units it owns.
    public struct Fill: ContractMethod, Equatable {
        public static let method = Method.fill
        public var prescription: Hash256
        public var units: [SGTIN]

        public init(prescription: Hash256, units: [SGTIN]) { (self.prescription, self.units) = (prescription, units) }

        public func validate() throws(Rejection) {
            try Check.count(units, CodingKeys.units, 0...Int(PrescriptionContract.quantityMax))
            try Check.distinct(units, CodingKeys.units)
        }
    }

    /// rx.cancel: the prescriber or their organization cancels a prescription.
    public struct Cancel: ContractMethod, Equatable {
        public static let method = Method.cancel
        public var prescription: Hash256

        public init(prescription: Hash256) { self.prescription = prescription }
    }
}
