"""Actions: plan -> confirm -> execute -> verify -> audit."""
