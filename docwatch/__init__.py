"""docwatch: tells network engineers when Microsoft changes the endpoints an Azure service needs."""
__version__ = "0.1.0"
