"""What a run leaves on disk, in plain files and without TensorFlow: the run bundle
(weights-only HDF5, npz arrays, JSON) and the checkpoint a run resumes from."""
