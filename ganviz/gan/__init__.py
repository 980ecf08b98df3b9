"""The engine, and the only folder that imports TensorFlow and Keras: the models, the one
paired training loop, tf.distribute placement, the run orchestrator, the quality classifiers."""
