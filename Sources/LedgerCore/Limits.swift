/// Every limit of the ledger core in one place, named with its unit (STYLE.md lesson 3).
public enum Limits {
    /// Largest encoded transaction accepted (signature included).
    public static let transactionBytesMax = 64 * 1024
    /// Longest contract or method name.
    public static let nameBytesMax = 64
    /// Longest chain id.
    public static let chainIdBytesMax = 64
    /// Most transactions in one block.
    public static let blockTransactionsMax = 10_000
}
