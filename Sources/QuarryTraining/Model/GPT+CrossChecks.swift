extension GPT {
    /// The loss and parameter gradients of one batch given as `batch` rows of T+1 ids each (inputs
    /// and next-token targets); targets at the row-major positions `ignoring` carry no loss, as
    /// sft's prompt tokens (`quarry gradients`, checked against PyTorch by scripts/crosscheck-gradients).
    public func lossAndGradients(rows ids: [Int32], batch: Int, ignoring ignored: [Int]) throws -> T {
        let width = ids.count / batch, n = width - 1
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<batch {
            inputs += ids[(b * width)..<(b * width + n)]
            targets += ids[(b * width + 1)..<(b * width + width)]
        }
        for position in ignored where targets.indices.contains(position) { targets[position] = -1 }
        zeroGradients()
        let loss = try forward(tokens: inputs, targets: targets, B: batch, T: n, pass: .training) ?? 0
        try backward()
        return loss
    }
}
