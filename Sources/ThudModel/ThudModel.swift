// ThudModel: the runtime model of Thud — frames in, envelope and hits out. No I/O beyond reading a model file.
//
//   let model = try StreamingModel(path: "models/default.thud")   // ModelFileError (exitCode 20) on a bad file
//   let stream = EnvelopeStream(model: model, picker: model.header.picker ?? .init())
//   // per 12 Hz frame (gray8, model.inputWidth × model.inputHeight, from ThudMedia): allocates nothing. A model
//   // with an output delay describes an earlier step, so the value comes with the step it belongs to (or nil at first)
//   if let d = try stream.process(frame: pixels, step: k, time: t) { use(d.step, d.envelope, d.hit) }
//   // end of stream: stream.finish { use($0) } describes the delayed last steps; new stream: stream.reset()
//   // (ThudPipeline's Pipeline.run is this loop for every input.)
//
// Pieces: FrameEncoder (ConvEncoder, MotionEnergyEncoder) → StackedLSTM → DenseHead, all on preallocated
// FloatBuffers through the Kernels (OpenBLAS, one thread). ModelFile reads/writes .thud files; ModelArchitecture
// lists the parameter tensors (PyTorch state_dict names) and makes seeded random ones for training to start from.
// tools/reference/ holds the PyTorch twin that the tests agree with to 1e-5.
